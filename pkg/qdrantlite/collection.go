package qdrantlite

import (
	"bytes"
	"encoding/binary"
	"math"
	"sort"
	"sync"

	"github.com/google/uuid"
	"github.com/qdrant/go-client/qdrant"
)

// pointKey is a point id in comparable form. Numeric ids sort before
// UUIDs; UUIDs sort as 128-bit big-endian numbers, as in Qdrant.
type pointKey struct {
	isUUID bool
	num    uint64
	uuid   [16]byte
}

func (k pointKey) less(o pointKey) bool {
	if k.isUUID != o.isUUID {
		return !k.isUUID
	}
	if !k.isUUID {
		return k.num < o.num
	}
	return bytes.Compare(k.uuid[:], o.uuid[:]) < 0
}

func (k pointKey) bytes() []byte {
	if !k.isUUID {
		b := make([]byte, 9)
		binary.BigEndian.PutUint64(b[1:], k.num)
		return b
	}
	b := make([]byte, 17)
	b[0] = 1
	copy(b[1:], k.uuid[:])
	return b
}

func (k pointKey) id() *qdrant.PointId {
	if !k.isUUID {
		return qdrant.NewIDNum(k.num)
	}
	return qdrant.NewIDUUID(formatUUID(k.uuid))
}

func (k pointKey) String() string {
	if !k.isUUID {
		return formatUint(k.num)
	}
	return formatUUID(k.uuid)
}

func formatUint(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func formatUUID(u [16]byte) string { return uuid.UUID(u).String() }

// parseUUID accepts the forms Rust's uuid crate parses, as Qdrant does:
// hyphenated, simple (32 hex digits), braced and urn:uuid:.
func parseUUID(s string) ([16]byte, bool) {
	u, err := uuid.Parse(s)
	return u, err == nil
}

// keyOf converts a wire id.
func keyOf(id *qdrant.PointId) (pointKey, error) {
	switch v := id.GetPointIdOptions().(type) {
	case *qdrant.PointId_Num:
		return pointKey{num: v.Num}, nil
	case *qdrant.PointId_Uuid:
		u, ok := parseUUID(v.Uuid)
		if !ok {
			return pointKey{}, errBadUUID(v.Uuid)
		}
		return pointKey{isUUID: true, uuid: u}, nil
	default:
		return pointKey{}, invalid("Unable to parse point id: no id given")
	}
}

type sparseVec struct {
	indices []uint32
	values  []float32
}

// point is one stored point. Dense vectors live in the collection's slabs.
type point struct {
	key     pointKey
	payload map[string]*qdrant.Value
	dense   map[string][]float32 // only while in transit (decode → put)
	sparse  map[string]sparseVec
	// has lists the dense vector names this point holds.
	has []string
	ord int32
}

// stored renders the point as persisted: Qdrant's own PointStruct.
func (p *point) stored() *qdrant.PointStruct {
	vecs := map[string]*qdrant.Vector{}
	for name, v := range p.dense {
		vecs[name] = qdrant.NewVectorDense(v)
	}
	for name, v := range p.sparse {
		vecs[name] = qdrant.NewVectorSparse(v.indices, v.values)
	}
	return &qdrant.PointStruct{Id: p.key.id(), Payload: p.payload, Vectors: qdrant.NewVectorsMap(vecs)}
}

// denseBlock is how many vectors one slab block holds: growing a space
// appends a block instead of copying the whole slab.
const denseBlock = 1024

// denseSpace holds one named dense vector of every point that has it, in
// fixed-size blocks scanned in order. Slots are dense: removing a vector
// moves the last one into its place.
type denseSpace struct {
	size     int
	distance qdrant.Distance
	blocks   [][]float32 // block b holds slots b*denseBlock ...
	pts      []*point    // slot → point
	slot     map[pointKey]int
}

func (d *denseSpace) at(i int) []float32 {
	b, o := i/denseBlock, (i%denseBlock)*d.size
	return d.blocks[b][o : o+d.size : o+d.size]
}

func (d *denseSpace) vector(k pointKey) ([]float32, bool) {
	i, ok := d.slot[k]
	if !ok {
		return nil, false
	}
	return d.at(i), true
}

func (d *denseSpace) set(p *point, v []float32) {
	if i, ok := d.slot[p.key]; ok {
		copy(d.at(i), v)
		d.pts[i] = p
		return
	}
	i := len(d.pts)
	if i/denseBlock == len(d.blocks) {
		d.blocks = append(d.blocks, make([]float32, denseBlock*d.size))
	}
	d.slot[p.key] = i
	d.pts = append(d.pts, p)
	copy(d.at(i), v)
}

func (d *denseSpace) remove(k pointKey) {
	i, ok := d.slot[k]
	if !ok {
		return
	}
	last := len(d.pts) - 1
	if i != last {
		copy(d.at(i), d.at(last))
		d.pts[i] = d.pts[last]
		d.slot[d.pts[i].key] = i
	}
	d.pts[last] = nil
	d.pts = d.pts[:last]
	delete(d.slot, k)
	if len(d.blocks) > 0 && last <= (len(d.blocks)-1)*denseBlock {
		d.blocks = d.blocks[:len(d.blocks)-1]
	}
}

// posting is one sparse index's list of (point ordinal, weight). Entries
// of removed points stay until the collection compacts; live counts the
// others (df in the IDF formula).
type posting struct {
	ords []int32
	vals []float32
	live int
}

// sparseSpace is the inverted index of one named sparse vector.
type sparseSpace struct {
	idf      bool
	postings map[uint32]*posting
	count    int // points holding this sparse vector (N in the IDF formula)
}

func (s *sparseSpace) add(ord int32, v sparseVec) {
	for i, idx := range v.indices {
		p := s.postings[idx]
		if p == nil {
			p = &posting{}
			s.postings[idx] = p
		}
		p.ords = append(p.ords, ord)
		p.vals = append(p.vals, v.values[i])
		p.live++
	}
	s.count++
}

// remove forgets a point's entries for the IDF statistics; the entries
// themselves are skipped (their ordinal is dead) until compaction.
func (s *sparseSpace) remove(v sparseVec) {
	for _, idx := range v.indices {
		if p := s.postings[idx]; p != nil {
			p.live--
		}
	}
	s.count--
}

// idf is Qdrant's inverse document frequency for the IDF modifier.
func idf(n, df int) float64 {
	return math.Log((float64(n)-float64(df)+0.5)/(float64(df)+0.5) + 1)
}

// collection is one collection in memory. mu guards everything below it;
// readers share it, writers (which also write the database) hold it alone.
type collection struct {
	name string
	cfg  *qdrant.CreateCollection

	mu      sync.RWMutex
	dropped bool
	points  map[pointKey]*point
	// byOrd maps a point's ordinal (its position in insertion order, used
	// by the posting lists) to the point; nil once removed. Ordinals are
	// not reused until compact renumbers them.
	byOrd   []*point
	dead    int
	dense   map[string]*denseSpace
	sparse  map[string]*sparseSpace
	indexes map[string]*qdrant.PayloadSchemaInfo
	keyword map[string]keywordIndex // field → index, see syncKeywordIndexes
	opID    uint64

	// order caches the ids in Qdrant's order for Scroll; rebuilt lazily by
	// readers (under sortMu) after a write marked it stale.
	sortMu     sync.Mutex
	order      []pointKey
	orderStale bool
}

func newCollection(name string, cfg *qdrant.CreateCollection) (*collection, error) {
	c := &collection{
		name:    name,
		cfg:     cfg,
		points:  map[pointKey]*point{},
		dense:   map[string]*denseSpace{},
		sparse:  map[string]*sparseSpace{},
		indexes: map[string]*qdrant.PayloadSchemaInfo{},
		keyword: map[string]keywordIndex{},
	}
	add := func(name string, p *qdrant.VectorParams) {
		c.dense[name] = &denseSpace{size: int(p.GetSize()), distance: p.GetDistance(), slot: map[pointKey]int{}}
	}
	switch v := cfg.GetVectorsConfig().GetConfig().(type) {
	case *qdrant.VectorsConfig_Params:
		add("", v.Params)
	case *qdrant.VectorsConfig_ParamsMap:
		for n, p := range v.ParamsMap.GetMap() {
			add(n, p)
		}
	}
	for n, p := range cfg.GetSparseVectorsConfig().GetMap() {
		c.sparse[n] = &sparseSpace{idf: p.GetModifier() == qdrant.Modifier_Idf, postings: map[uint32]*posting{}}
	}
	return c, nil
}

// put stores p in memory, replacing any point with the same id. The
// caller holds mu for writing (or owns c exclusively, as load does).
func (c *collection) put(p *point) {
	if old := c.points[p.key]; old != nil {
		c.removeLocked(old)
	} else {
		c.orderStale = true
	}
	for name, v := range p.dense {
		c.dense[name].set(p, v)
		p.has = append(p.has, name)
	}
	sort.Strings(p.has)
	p.dense = nil
	p.ord = int32(len(c.byOrd))
	c.byOrd = append(c.byOrd, p)
	c.indexPoint(p)
	for name, v := range p.sparse {
		c.sparse[name].add(p.ord, v)
	}
	c.points[p.key] = p
}

// remove deletes the point from memory; the caller holds mu for writing.
func (c *collection) remove(k pointKey) bool {
	p := c.points[k]
	if p == nil {
		return false
	}
	c.removeLocked(p)
	delete(c.points, k)
	c.orderStale = true
	return true
}

func (c *collection) removeLocked(p *point) {
	for _, name := range p.has {
		c.dense[name].remove(p.key)
	}
	for name, v := range p.sparse {
		c.sparse[name].remove(v)
	}
	c.unindexPoint(p)
	c.byOrd[p.ord] = nil
	c.dead++
	if c.dead > 1024 && c.dead > len(c.byOrd)/2 {
		c.compact()
	}
}

// compact renumbers the live points' ordinals densely and rebuilds the
// posting lists without the entries of removed points. Amortised: it runs
// once removals outnumber live points.
func (c *collection) compact() {
	live := c.byOrd[:0]
	for _, p := range c.byOrd {
		if p != nil {
			p.ord = int32(len(live))
			live = append(live, p)
		}
	}
	clear(c.byOrd[len(live):])
	c.byOrd = live
	c.dead = 0
	for _, sp := range c.sparse {
		sp.postings = map[uint32]*posting{}
		sp.count = 0
	}
	for _, p := range c.byOrd {
		for name, v := range p.sparse {
			c.sparse[name].add(p.ord, v)
		}
	}
	clear(c.keyword)
	c.syncKeywordIndexes()
}

// denseOf returns the point's dense vectors (views into the slabs).
func (c *collection) denseOf(p *point) map[string][]float32 {
	out := make(map[string][]float32, len(p.has))
	for _, name := range p.has {
		if v, ok := c.dense[name].vector(p.key); ok {
			out[name] = v
		}
	}
	return out
}

// sorted returns every id in Qdrant's order. The caller holds mu for
// reading; the result must not be modified.
func (c *collection) sorted() []pointKey {
	c.sortMu.Lock()
	defer c.sortMu.Unlock()
	if c.orderStale || len(c.order) != len(c.points) {
		c.order = c.order[:0]
		for k := range c.points {
			c.order = append(c.order, k)
		}
		sort.Slice(c.order, func(i, j int) bool { return c.order[i].less(c.order[j]) })
		c.orderStale = false
	}
	return c.order
}

// decodeStored rebuilds a point from its persisted form.
func (c *collection) decodeStored(ps *qdrant.PointStruct) (*point, error) {
	k, err := keyOf(ps.GetId())
	if err != nil {
		return nil, err
	}
	p := &point{key: k, payload: ps.GetPayload(), dense: map[string][]float32{}, sparse: map[string]sparseVec{}}
	for name, v := range ps.GetVectors().GetVectors().GetVectors() {
		if sp := v.GetSparse(); sp != nil {
			p.sparse[name] = sparseVec{indices: sp.GetIndices(), values: sp.GetValues()}
		} else {
			p.dense[name] = v.GetDense().GetData()
		}
	}
	return p, nil
}

// decodeInput validates an upserted point against the collection's
// configuration and normalises Cosine vectors, as Qdrant does.
func (c *collection) decodeInput(ps *qdrant.PointStruct) (*point, error) {
	k, err := keyOf(ps.GetId())
	if err != nil {
		return nil, err
	}
	p := &point{key: k, payload: ps.GetPayload(), dense: map[string][]float32{}, sparse: map[string]sparseVec{}}
	if p.payload == nil {
		p.payload = map[string]*qdrant.Value{}
	}
	var named map[string]*qdrant.Vector
	switch v := ps.GetVectors().GetVectorsOptions().(type) {
	case *qdrant.Vectors_Vector:
		named = map[string]*qdrant.Vector{"": v.Vector}
	case *qdrant.Vectors_Vectors:
		named = v.Vectors.GetVectors()
	}
	for name, v := range named {
		dense, sparse, err := vectorOf(v)
		if err != nil {
			return nil, err
		}
		if sparse != nil {
			if _, ok := c.sparse[name]; !ok {
				return nil, errNoVector(name)
			}
			if err := validateSparse(*sparse); err != nil {
				return nil, err
			}
			p.sparse[name] = *sparse
			continue
		}
		sp, ok := c.dense[name]
		if !ok {
			return nil, errNoVector(name)
		}
		if len(dense) != sp.size {
			return nil, errDim(sp.size, len(dense))
		}
		for _, f := range dense {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return nil, invalid("Wrong input: vector contains NaN or infinite values")
			}
		}
		v := append([]float32(nil), dense...)
		if sp.distance == qdrant.Distance_Cosine {
			normalize(v)
		}
		p.dense[name] = v
	}
	return p, nil
}

// vectorOf reads a wire vector in its current (oneof) or legacy form.
func vectorOf(v *qdrant.Vector) ([]float32, *sparseVec, error) {
	switch x := v.GetVector().(type) {
	case *qdrant.Vector_Dense:
		return x.Dense.GetData(), nil, nil
	case *qdrant.Vector_Sparse:
		return nil, &sparseVec{indices: x.Sparse.GetIndices(), values: x.Sparse.GetValues()}, nil
	case nil:
		if v.GetIndices() != nil {
			return nil, &sparseVec{indices: v.GetIndices().GetData(), values: v.GetData()}, nil
		}
		return v.GetData(), nil, nil
	default:
		return nil, nil, unimplemented("qdrantlite stores dense and sparse vectors only; multi-vectors and inference objects (documents, images) are not supported")
	}
}

func validateSparse(v sparseVec) error {
	if len(v.indices) != len(v.values) {
		return invalid("Validation error in body: [vector.values: must be the same length as indices]")
	}
	seen := make(map[uint32]struct{}, len(v.indices))
	for _, i := range v.indices {
		if _, dup := seen[i]; dup {
			return invalid("Validation error in body: [vector.indices: must be unique]")
		}
		seen[i] = struct{}{}
	}
	return nil
}

func normalize(v []float32) {
	var sum float64
	for _, f := range v {
		sum += float64(f) * float64(f)
	}
	// Qdrant leaves zero vectors and (nearly) unit vectors as they are.
	if sum == 0 || math.Abs(math.Sqrt(sum)-1) < 1e-6 {
		return
	}
	n := float32(math.Sqrt(sum))
	for i := range v {
		v[i] /= n
	}
}
