package qdrantlite

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math"
	"sort"
	"strings"
	"sync"

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

func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// parseUUID accepts the forms Rust's uuid crate parses: hyphenated,
// simple (32 hex digits), braced and urn:uuid:.
func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	t := s
	if len(t) > 9 && strings.EqualFold(t[:9], "urn:uuid:") {
		t = t[9:]
	} else if len(t) == 38 && t[0] == '{' && t[37] == '}' {
		t = t[1:37]
	}
	switch len(t) {
	case 36:
		if t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
			return u, false
		}
		t = t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:]
	case 32:
	default:
		return u, false
	}
	if _, err := hex.Decode(u[:], []byte(t)); err != nil {
		return u, false
	}
	return u, true
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
	c   *collection
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

type denseSpace struct {
	size     int
	distance qdrant.Distance
	data     []float32 // slot i occupies data[i*size : (i+1)*size]
	keys     []pointKey
	slot     map[pointKey]int
}

func (d *denseSpace) vector(k pointKey) ([]float32, bool) {
	i, ok := d.slot[k]
	if !ok {
		return nil, false
	}
	return d.data[i*d.size : (i+1)*d.size : (i+1)*d.size], true
}

func (d *denseSpace) set(k pointKey, v []float32) {
	if i, ok := d.slot[k]; ok {
		copy(d.data[i*d.size:], v)
		return
	}
	d.slot[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.data = append(d.data, v...)
}

func (d *denseSpace) remove(k pointKey) {
	i, ok := d.slot[k]
	if !ok {
		return
	}
	last := len(d.keys) - 1
	if i != last {
		lk := d.keys[last]
		copy(d.data[i*d.size:(i+1)*d.size], d.data[last*d.size:(last+1)*d.size])
		d.keys[i] = lk
		d.slot[lk] = i
	}
	d.keys = d.keys[:last]
	d.data = d.data[:last*d.size]
	delete(d.slot, k)
}

type sparseSpace struct {
	idf      bool
	postings map[uint32]map[pointKey]float32
	count    int // points holding this sparse vector (N in the IDF formula)
}

func (s *sparseSpace) add(k pointKey, v sparseVec) {
	for i, idx := range v.indices {
		m := s.postings[idx]
		if m == nil {
			m = map[pointKey]float32{}
			s.postings[idx] = m
		}
		m[k] = v.values[i]
	}
	s.count++
}

func (s *sparseSpace) remove(k pointKey, v sparseVec) {
	for _, idx := range v.indices {
		if m := s.postings[idx]; m != nil {
			delete(m, k)
			if len(m) == 0 {
				delete(s.postings, idx)
			}
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
	dense   map[string]*denseSpace
	sparse  map[string]*sparseSpace
	indexes map[string]*qdrant.PayloadSchemaInfo
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
		c.sparse[n] = &sparseSpace{idf: p.GetModifier() == qdrant.Modifier_Idf, postings: map[uint32]map[pointKey]float32{}}
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
		c.dense[name].set(p.key, v)
		p.has = append(p.has, name)
	}
	sort.Strings(p.has)
	p.dense = nil
	for name, v := range p.sparse {
		c.sparse[name].add(p.key, v)
	}
	p.c = c
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
		c.sparse[name].remove(p.key, v)
	}
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
