package gcsemu

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// client talks to the emulator the way production code does: through
// STORAGE_EMULATOR_HOST, with no credentials, and with the storage
// library's own retries off so that every injected fault is visible.
func client(t *testing.T) *storage.Client {
	t.Helper()
	c, err := storage.NewClient(context.Background(), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	c.SetRetry(storage.WithPolicy(storage.RetryNever))
	t.Cleanup(func() { c.Close() })
	return c
}

func write(ctx context.Context, c *storage.Client, bucket, name string, data []byte) error {
	w := c.Bucket(bucket).Object(name).NewWriter(ctx)
	w.ChunkSize = 0
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Close()
}

func read(ctx context.Context, c *storage.Client, bucket, name string) ([]byte, error) {
	r, err := c.Bucket(bucket).Object(name).NewReader(ctx)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestStartSetsEnvAndServes(t *testing.T) {
	srv := Start(t, "b1", "b2")
	if got := os.Getenv("STORAGE_EMULATOR_HOST"); got != srv.Host || !strings.HasPrefix(got, "127.0.0.1:") {
		t.Fatalf("STORAGE_EMULATOR_HOST = %q, want %q on 127.0.0.1", got, srv.Host)
	}
	ctx := context.Background()
	c := client(t)
	if err := write(ctx, c, "b2", "dir/x.pgp", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := read(ctx, c, "b2", "dir/x.pgp")
	if err != nil || string(got) != "hello" {
		t.Fatalf("read back %q, %v", got, err)
	}
	// The in-memory side sees the same object.
	obj, err := srv.Emulator.GetObject("b2", "dir/x.pgp")
	if err != nil || !bytes.Equal(obj.Content, []byte("hello")) {
		t.Fatalf("emulator object %q, %v", obj.Content, err)
	}
	var sawUpload, sawDownload bool
	for _, r := range srv.Requests() {
		if r.Upload && r.Bucket == "b2" && r.Object == "dir/x.pgp" {
			sawUpload = true
		}
		if !r.Upload && r.Bucket == "b2" && r.Object == "dir/x.pgp" && r.Method == http.MethodGet {
			sawDownload = true
		}
	}
	if !sawUpload || !sawDownload {
		t.Fatalf("request log does not name the object: %+v", srv.Requests())
	}
}

func TestFaults(t *testing.T) {
	srv := Start(t, "b")
	ctx := context.Background()
	c := client(t)

	srv.FailNext(1, Unavailable, Upload("a"))
	srv.FailNext(1, TooManyRequests, Upload("a"))
	err := write(ctx, c, "b", "a", []byte("1"))
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) || gerr.Code != 503 {
		t.Fatalf("first write: %v, want HTTP 503", err)
	}
	err = write(ctx, c, "b", "a", []byte("1"))
	if !errors.As(err, &gerr) || gerr.Code != 429 {
		t.Fatalf("second write: %v, want HTTP 429", err)
	}
	if err := write(ctx, c, "b", "a", []byte("1")); err != nil {
		t.Fatalf("third write: %v", err)
	}
	if srv.Pending() != 0 || srv.Fired() != 2 {
		t.Fatalf("pending %d fired %d, want 0 and 2", srv.Pending(), srv.Fired())
	}

	// A fault for another object leaves this one alone.
	srv.FailNext(1, Unavailable, Upload("other"))
	if err := write(ctx, c, "b", "a", []byte("2")); err != nil {
		t.Fatalf("unmatched fault fired: %v", err)
	}
	if srv.Pending() != 1 {
		t.Fatalf("pending = %d, want 1", srv.Pending())
	}
	srv.Reset()

	// Dropped connection: the write does not land.
	srv.FailNext(1, DropConn, Upload("d"))
	if err := write(ctx, c, "b", "d", []byte("x")); err == nil {
		t.Fatal("write through a dropped connection succeeded")
	}
	if _, err := srv.Emulator.GetObject("b", "d"); err == nil {
		t.Fatal("DropConn let the write land")
	}

	// Dropped response: the write lands, the client hears nothing.
	srv.FailNext(1, DropResponse, Upload("r"))
	if err := write(ctx, c, "b", "r", []byte("y")); err == nil {
		t.Fatal("write through a dropped response succeeded")
	}
	if obj, err := srv.Emulator.GetObject("b", "r"); err != nil || string(obj.Content) != "y" {
		t.Fatalf("DropResponse did not let the write land: %v", err)
	}

	// Downloads.
	srv.FailNext(1, Unavailable, Download("r"))
	if _, err := read(ctx, c, "b", "r"); err == nil {
		t.Fatal("read with an injected 503 succeeded")
	}
	if got, err := read(ctx, c, "b", "r"); err != nil || string(got) != "y" {
		t.Fatalf("read after the fault: %q, %v", got, err)
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		method, target string
		bucket, object string
		upload         bool
	}{
		{"GET", "/b/dir/x.pgp", "b", "dir/x.pgp", false},
		{"GET", "/storage/v1/b/b/o/dir%2Fx.pgp?alt=json", "b", "dir/x.pgp", false},
		{"GET", "/download/storage/v1/b/b/o/dir%2Fx.pgp?alt=media", "b", "dir/x.pgp", false},
		{"POST", "/upload/storage/v1/b/b/o?uploadType=media&name=m.sig", "b", "m.sig", true},
		{"GET", "/storage/v1/b/b", "b", "", false},
	}
	for _, tt := range tests {
		r, err := http.NewRequest(tt.method, "http://127.0.0.1"+tt.target, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := describe(r)
		if got.Bucket != tt.bucket || got.Object != tt.object || got.Upload != tt.upload {
			t.Errorf("describe(%s %s) = %+v", tt.method, tt.target, got)
		}
	}
}
