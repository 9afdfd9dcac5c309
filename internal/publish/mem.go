package publish

import (
	"bytes"
	"context"
	"errors"
	"sync"
)

// memDriver serves mem://: objects in this process's memory, empty at each
// Open. It is for tests: it behaves like a bucket without versions (so a
// publish takes the lock object), and keeps content types and
// Cache-Control for tests to check.
type memDriver struct {
	mu   sync.Mutex
	objs map[string]memObject
}

type memObject struct {
	data                      []byte
	contentType, cacheControl string
}

func newMemDriver() *memDriver { return &memDriver{objs: map[string]memObject{}} }

func memNotFound(name string) error {
	return &storageError{Code: codeNotFound, Err: errors.New("no object " + name)}
}

func (m *memDriver) Read(ctx context.Context, name string, limit int64) ([]byte, version, error) {
	m.mu.Lock()
	o, ok := m.objs[name]
	m.mu.Unlock()
	if !ok {
		return nil, version{}, memNotFound(name)
	}
	data, err := readLimited(bytes.NewReader(o.data), int64(len(o.data)), limit)
	return data, version{}, err
}

func (m *memDriver) Attributes(ctx context.Context, name string) (attributes, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[name]
	if !ok {
		return attributes{}, memNotFound(name)
	}
	return attributes{Size: int64(len(o.data)), ContentType: o.contentType, CacheControl: o.cacheControl}, nil
}

func (m *memDriver) Write(ctx context.Context, name string, data []byte, o writeOptions) (version, error) {
	if err := ctx.Err(); err != nil {
		return version{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch _, exists := m.objs[name]; {
	case o.Cond == condIfMatch:
		return version{}, &storageError{Code: codeUnimplemented, Err: errors.New("mem:// has no object versions")}
	case o.Cond == condIfNotExist && exists:
		return version{}, &storageError{Code: codePreconditionFailed, Err: errors.New("object " + name + " already exists")}
	}
	m.objs[name] = memObject{data: bytes.Clone(data), contentType: o.ContentType, cacheControl: o.CacheControl}
	return version{}, nil
}

func (m *memDriver) Delete(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[name]; !ok {
		return memNotFound(name)
	}
	delete(m.objs, name)
	return nil
}

func (m *memDriver) Close() error { return nil }
