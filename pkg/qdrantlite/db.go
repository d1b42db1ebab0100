package qdrantlite

import (
	"fmt"
	"time"

	"github.com/qdrant/go-client/qdrant"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// On-disk layout (bbolt):
//
//	collections/                 bucket
//	  <name>/                    bucket, one per collection
//	    config                   qdrant.CreateCollection, as validated
//	    points/  <key> → qdrant.PointStruct (dense vectors stored normalised for Cosine)
//	    indexes/ <field> → qdrant.PayloadSchemaInfo
//
// A point's key is its id encoded so that bbolt's byte order is Qdrant's
// id order: 0x00 + big-endian uint64 for numeric ids, 0x01 + the 16 UUID
// bytes for UUIDs. Values are Qdrant's own protobuf messages, so the format
// needs no schema of its own.
var (
	bucketCollections = []byte("collections")
	bucketPoints      = []byte("points")
	bucketIndexes     = []byte("indexes")
	keyConfig         = []byte("config")
)

type db struct {
	bolt *bolt.DB
}

func openDB(path string) (*db, error) {
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("qdrantlite: open %s: %w (is another server using this directory?)", path, err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketCollections)
		return err
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("qdrantlite: init %s: %w", path, err)
	}
	return &db{bolt: b}, nil
}

func (d *db) close() error { return d.bolt.Close() }

// load reads every collection and its points into memory.
func (d *db) load() ([]*collection, error) {
	var out []*collection
	err := d.bolt.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketCollections)
		return root.ForEachBucket(func(name []byte) error {
			b := root.Bucket(name)
			cfg := &qdrant.CreateCollection{}
			if err := proto.Unmarshal(b.Get(keyConfig), cfg); err != nil {
				return fmt.Errorf("collection %s: config: %w", name, err)
			}
			c, err := newCollection(string(name), cfg)
			if err != nil {
				return fmt.Errorf("collection %s: %w", name, err)
			}
			if ib := b.Bucket(bucketIndexes); ib != nil {
				err := ib.ForEach(func(k, v []byte) error {
					info := &qdrant.PayloadSchemaInfo{}
					if err := proto.Unmarshal(v, info); err != nil {
						return fmt.Errorf("index %s: %w", k, err)
					}
					c.indexes[string(k)] = info
					return nil
				})
				if err != nil {
					return fmt.Errorf("collection %s: %w", name, err)
				}
			}
			c.syncKeywordIndexes()
			err = b.Bucket(bucketPoints).ForEach(func(k, v []byte) error {
				ps := &qdrant.PointStruct{}
				if err := proto.Unmarshal(v, ps); err != nil {
					return fmt.Errorf("point %x: %w", k, err)
				}
				p, err := c.decodeStored(ps)
				if err != nil {
					return fmt.Errorf("point %x: %w", k, err)
				}
				c.put(p)
				return nil
			})
			if err != nil {
				return fmt.Errorf("collection %s: %w", name, err)
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("qdrantlite: load: %w", err)
	}
	return out, nil
}

func (d *db) createCollection(name string, cfg *qdrant.CreateCollection) error {
	raw, err := proto.Marshal(cfg)
	if err != nil {
		return err
	}
	return d.bolt.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketCollections).CreateBucket([]byte(name))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucket(bucketPoints); err != nil {
			return err
		}
		if _, err := b.CreateBucket(bucketIndexes); err != nil {
			return err
		}
		return b.Put(keyConfig, raw)
	})
}

func (d *db) putConfig(name string, cfg *qdrant.CreateCollection) error {
	raw, err := proto.Marshal(cfg)
	if err != nil {
		return err
	}
	return d.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCollections).Bucket([]byte(name)).Put(keyConfig, raw)
	})
}

func (d *db) dropCollection(name string) error {
	return d.bolt.Update(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketCollections).DeleteBucket([]byte(name))
		if err == bolt.ErrBucketNotFound {
			return nil
		}
		return err
	})
}

func (d *db) putIndex(name, field string, info *qdrant.PayloadSchemaInfo) error {
	raw, err := proto.Marshal(info)
	if err != nil {
		return err
	}
	return d.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCollections).Bucket([]byte(name)).Bucket(bucketIndexes).Put([]byte(field), raw)
	})
}

func (d *db) deleteIndex(name, field string) error {
	return d.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCollections).Bucket([]byte(name)).Bucket(bucketIndexes).Delete([]byte(field))
	})
}

// write applies one batch atomically: puts, then deletes.
func (d *db) write(name string, puts []*point, dels []pointKey) error {
	vals := make([][]byte, len(puts))
	for i, p := range puts {
		raw, err := proto.Marshal(p.stored())
		if err != nil {
			return err
		}
		vals[i] = raw
	}
	return d.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCollections).Bucket([]byte(name)).Bucket(bucketPoints)
		for i, p := range puts {
			if err := b.Put(p.key.bytes(), vals[i]); err != nil {
				return err
			}
		}
		for _, k := range dels {
			if err := b.Delete(k.bytes()); err != nil {
				return err
			}
		}
		return nil
	})
}
