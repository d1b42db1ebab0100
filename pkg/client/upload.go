package client

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/nats-io/nats.go/jetstream"
)

// Upload puts a local file into the uploads object store (JETRUN_UPLOADS,
// created by the dispatchers) and returns the reference an upload_file
// job takes. The object is named by the first 16 hex digits of its
// SHA-256 and its base name, so uploading the same content again reuses
// the stored object instead of sending it twice.
func (c *Client) Upload(ctx context.Context, path string) (jobs.ObjectRef, error) {
	f, err := os.Open(path)
	if err != nil {
		return jobs.ObjectRef{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return jobs.ObjectRef{}, err
	}
	if !fi.Mode().IsRegular() {
		return jobs.ObjectRef{}, fmt.Errorf("upload %s: not a regular file", path)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return jobs.ObjectRef{}, fmt.Errorf("upload %s: %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	ref := jobs.ObjectRef{Name: sum[:16] + "/" + filepath.Base(path), SHA256: sum, Size: fi.Size()}

	obs, err := c.js.ObjectStore(ctx, c.names.UploadsBucket())
	if err != nil {
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return ref, fmt.Errorf("upload: object store %s does not exist (%w)", c.names.UploadsBucket(), ErrNoDispatcher)
		}
		return ref, fmt.Errorf("upload: %w", err)
	}
	digest := "SHA-256=" + base64.URLEncoding.EncodeToString(h.Sum(nil))
	if info, err := obs.GetInfo(ctx, ref.Name); err == nil && !info.Deleted && info.Size == uint64(ref.Size) && info.Digest == digest {
		return ref, nil // already there, byte for byte
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return ref, err
	}
	if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: ref.Name, Description: "jetrun upload of " + filepath.Base(path)}, f); err != nil {
		return ref, fmt.Errorf("upload %s: %w", path, err)
	}
	return ref, nil
}
