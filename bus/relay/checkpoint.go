package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/encours/encours/domain"
)

// checkpointBytesMax bounds what Load reads: a checkpoint is one short JSON line, so a larger
// file is not one of ours.
const checkpointBytesMax = 4 << 10

// Mark is how far the relay has published: every event up to Position is acknowledged by
// Kafka. Hash is the chain hash of the event at Position, so a checkpoint that does not
// belong to the store it is used with (another data directory, a store rebuilt from an
// import) is refused instead of silently skipping or repeating events.
type Mark struct {
	Position uint64      `json:"position"`
	Hash     domain.Hash `json:"hash"`
}

// Checkpoint stores the relay's Mark. Run calls Load once at start and Save after each batch
// Kafka acknowledged, from one goroutine.
type Checkpoint interface {
	// Load returns the saved Mark, or the zero Mark when none was ever saved.
	Load() (Mark, error)
	// Save durably replaces the saved Mark.
	Save(Mark) error
}

// FileCheckpoint keeps the Mark in one small file, replaced atomically on each Save: written
// to a temporary file beside it, fsynced, renamed over it, and the directory fsynced, so a
// crash leaves either the old Mark or the new one, never a torn file.
//
// Why a file and not a compacted Kafka topic: the checkpoint must describe the store, and it
// lives next to it (the embedded store's data directory, or the relay's volume beside
// KurrentDB); saving it costs one local fsync per batch (the batch is thousands of events
// under load), and reading it at start needs no broker, so a relay can tell how far it got
// while Kafka is still down. A topic would survive the loss of the relay's disk, but the
// same loss with a file costs only a full republish, which consumers deduplicate. A
// Kafka-backed Checkpoint can be added behind this interface if deployments need one.
type FileCheckpoint struct {
	path string
}

// NewFileCheckpoint returns a checkpoint kept in the file at path; its directory must exist.
func NewFileCheckpoint(path string) *FileCheckpoint {
	if path == "" {
		panic("relay: NewFileCheckpoint with an empty path")
	}
	return &FileCheckpoint{path: path}
}

// Path returns the checkpoint file's path.
func (c *FileCheckpoint) Path() string { return c.path }

// Load implements Checkpoint. A missing file is the zero Mark; an unreadable or malformed
// one is an error (never taken as zero: that would republish the whole log unannounced).
func (c *FileCheckpoint) Load() (Mark, error) {
	f, err := os.Open(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return Mark{}, nil
	}
	if err != nil {
		return Mark{}, fmt.Errorf("load relay checkpoint: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, checkpointBytesMax+1))
	if err != nil {
		return Mark{}, fmt.Errorf("load relay checkpoint %s: %w", c.path, err)
	}
	if len(b) > checkpointBytesMax {
		return Mark{}, fmt.Errorf("load relay checkpoint %s: larger than %d bytes", c.path, checkpointBytesMax)
	}
	var m Mark
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Mark{}, fmt.Errorf("load relay checkpoint %s: %w", c.path, err)
	}
	if (m.Position == 0) != m.Hash.IsZero() {
		return Mark{}, fmt.Errorf("load relay checkpoint %s: position %d with hash %s", c.path, m.Position, m.Hash)
	}
	return m, nil
}

// Save implements Checkpoint.
func (c *FileCheckpoint) Save(m Mark) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("save relay checkpoint: %w", err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(c.path)
	tmp, err := os.CreateTemp(dir, filepath.Base(c.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save relay checkpoint: %w", err)
	}
	tmpName := tmp.Name()
	if err := writeSync(tmp, b); err != nil {
		_ = os.Remove(tmpName)
		return fmt.Errorf("save relay checkpoint %s: %w", c.path, err)
	}
	if err := os.Rename(tmpName, c.path); err != nil {
		_ = os.Remove(tmpName)
		return fmt.Errorf("save relay checkpoint %s: %w", c.path, err)
	}
	// The rename is durable only once the directory entry is.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save relay checkpoint %s: open dir: %w", c.path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("save relay checkpoint %s: sync dir: %w", c.path, err)
	}
	return nil
}

func writeSync(f *os.File, b []byte) error {
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
