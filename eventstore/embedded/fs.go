package embedded

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
)

// FS is the file layer under the store: every byte the store reads or writes goes through it.
// The default (Options.FS nil) is the operating system's. It exists so that tests can inject
// faults (a write or fdatasync returning EIO or ENOSPC) and count syncs; production code
// never sets it.
type FS interface {
	// OpenFile opens name with os.OpenFile's flag and perm.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Rename renames oldpath to newpath atomically (rename(2)).
	Rename(oldpath, newpath string) error
	// Remove removes name.
	Remove(name string) error
	// ReadDirNames returns the names in dir, sorted.
	ReadDirNames(dir string) ([]string, error)
	// SyncDir fsyncs the directory dir, making creations and renames in it durable.
	SyncDir(dir string) error
}

// File is an open file of an FS.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Datasync flushes the file's data and the metadata needed to read it (fdatasync(2)).
	Datasync() error
	// Sync flushes the file's data and all its metadata (fsync(2)).
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Allocate reserves [off, off+n) on disk and extends the file to cover it
	// (fallocate(2) with mode 0: the blocks read as zeros).
	Allocate(off, n int64) error
	// Size returns the file's current size.
	Size() (int64, error)
	// Close closes the file.
	Close() error
}

// OSFS returns the operating system's file layer, the default, for a test's FS to wrap (as
// this package's fault tests do) when it injects faults into a store used by other packages.
func OSFS() FS { return osFS{} }

// osFS is the operating system's file layer.
type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) ReadDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct{ f *os.File }

func (o osFile) ReadAt(p []byte, off int64) (int, error)  { return o.f.ReadAt(p, off) }
func (o osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o osFile) Sync() error                              { return o.f.Sync() }
func (o osFile) Truncate(size int64) error                { return o.f.Truncate(size) }
func (o osFile) Close() error                             { return o.f.Close() }

func (o osFile) Allocate(off, n int64) error {
	for {
		err := syscall.Fallocate(int(o.f.Fd()), 0, off, n)
		if !errors.Is(err, syscall.EINTR) {
			if err != nil {
				return &fs.PathError{Op: "fallocate", Path: o.f.Name(), Err: err}
			}
			return nil
		}
	}
}

func (o osFile) Datasync() error {
	// The raw fd is used without holding the os.File's poller: the file is a regular file,
	// never in non-blocking mode, and the store keeps it open until Close.
	for {
		err := syscall.Fdatasync(int(o.f.Fd()))
		if !errors.Is(err, syscall.EINTR) {
			if err != nil {
				return &fs.PathError{Op: "fdatasync", Path: o.f.Name(), Err: err}
			}
			return nil
		}
	}
}

func (o osFile) Size() (int64, error) {
	st, err := o.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// lockDir takes an advisory flock(2) on dir/LOCK, exclusive for a writable store and shared
// for a read-only one, so two processes never write the same log and a verify never reads a
// log being written. The lock goes with the process: a SIGKILLed daemon does not leave it.
func lockDir(dir string, readOnly bool) (*os.File, error) {
	flag, how := os.O_RDWR|os.O_CREATE, syscall.LOCK_EX
	if readOnly {
		flag, how = os.O_RDONLY, syscall.LOCK_SH
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), flag, 0o644)
	if errors.Is(err, fs.ErrNotExist) && readOnly {
		// A read-only open of a directory never opened for writing: nothing to lock against.
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.New("another process or Store holds the directory's lock")
		}
		return nil, err
	}
	return f, nil
}
