package backup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/backup/backupflags"
)

// TestS3KeysAndLocations: objects live under PREFIX/NAME (NAME alone without
// a prefix) and are named s3://BUCKET/KEY.
func TestS3KeysAndLocations(t *testing.T) {
	for _, c := range []struct{ prefix, name, key, loc string }{
		{"piyasa", "a.sql.zst", "piyasa/a.sql.zst", "s3://b/piyasa/a.sql.zst"},
		{"", "a.sql.zst", "a.sql.zst", "s3://b/a.sql.zst"},
		{"x/y", "a.sql.zst.json", "x/y/a.sql.zst.json", "s3://b/x/y/a.sql.zst.json"},
	} {
		tg := &S3Target{Bucket: "b", Prefix: c.prefix}
		if k, l := tg.key(c.name), tg.Location(c.name); k != c.key || l != c.loc {
			t.Errorf("prefix %q name %q: key %q location %q", c.prefix, c.name, k, l)
		}
	}
}

// TestS3Endpoint: a custom endpoint must be http(s)://HOST[:PORT]; the
// error names it and never the secret key; the environment fills in what
// the flags leave out.
func TestS3Endpoint(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	for _, ep := range []string{"minio:9000", "ftp://minio:9000", "http://", "://x"} {
		f := &S3Flags{S3: backupflags.S3{Endpoint: ep, AccessKey: "AK", SecretKey: "canary-secret"}}
		_, err := f.Client()
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("invalid S3 endpoint %q", ep)) || strings.Contains(err.Error(), "canary-secret") {
			t.Errorf("endpoint %q: %v", ep, err)
		}
		// Made once: the same error again, without a second parse.
		if _, again := f.Client(); again != err {
			t.Errorf("endpoint %q: second Client() %v", ep, again)
		}
	}
	t.Setenv("AWS_ENDPOINT_URL", "http://from-env:9000")
	t.Setenv("AWS_REGION", "eu-central-1")
	f := &S3Flags{S3: backupflags.S3{AccessKey: "AK", SecretKey: "SK"}}
	c, err := f.Client()
	if err != nil {
		t.Fatal(err)
	}
	if c.EndpointURL().String() != "http://from-env:9000" {
		t.Errorf("endpoint %s", c.EndpointURL())
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", "ftp://s3-specific")
	if _, err := (&S3Flags{}).Client(); err == nil || !strings.Contains(err.Error(), `"ftp://s3-specific"`) {
		t.Errorf("AWS_ENDPOINT_URL_S3 comes first: %v", err)
	}
}

// s3Server answers the few S3 calls the target makes: HEAD and GET of the
// objects it holds (404 NoSuchKey otherwise, 403 for a key "forbidden") and
// a ListObjectsV2 of all of them.
func s3Server(t *testing.T, objects map[string]string) *S3Target {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/bucket/")
		switch {
		case r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><IsTruncated>false</IsTruncated>`)
			for k, v := range objects {
				if strings.HasPrefix(k, r.URL.Query().Get("prefix")) {
					fmt.Fprintf(w, `<Contents><Key>%s</Key><LastModified>2026-12-01T02:00:00.000Z</LastModified><ETag>"e"</ETag><Size>%d</Size></Contents>`, k, len(v))
				}
			}
			fmt.Fprint(w, `</ListBucketResult>`)
		case key == "piyasa/forbidden.sql":
			w.WriteHeader(http.StatusForbidden)
			if r.Method == http.MethodGet {
				fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			}
		default:
			v, ok := objects[key]
			if !ok {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusNotFound)
				if r.Method == http.MethodGet {
					fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`)
				}
				return
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(v)))
			w.Header().Set("Last-Modified", "Tue, 01 Dec 2026 02:00:00 GMT")
			w.Header().Set("ETag", `"e"`)
			if r.Method == http.MethodGet {
				fmt.Fprint(w, v)
			}
		}
	}))
	t.Cleanup(srv.Close)
	return &S3Target{Flags: &S3Flags{S3: backupflags.S3{Endpoint: srv.URL, Region: "us-east-1", AccessKey: "AK", SecretKey: "SK"}},
		Bucket: "bucket", Prefix: "piyasa"}
}

// TestS3TargetReads: Exists says no for a missing object and names the
// location of any other failure; ReadMeta of a missing object is
// os.ErrNotExist; List keeps the backups directly under the prefix, sorted.
func TestS3TargetReads(t *testing.T) {
	tg := s3Server(t, map[string]string{
		"piyasa/b.sql.zst":       "bbbb",
		"piyasa/a.sql.gz":        "aa",
		"piyasa/a.sql.gz.json":   `{"name":"a.sql.gz"}`,
		"piyasa/notes.txt":       "x",
		"piyasa/daily/c.sql.zst": "nested",
		"other/d.sql.zst":        "elsewhere",
		"piyasa/redis-x.rdb.zst": "r",
	})
	ctx := context.Background()
	if ok, err := tg.Exists(ctx, "b.sql.zst"); !ok || err != nil {
		t.Errorf("exists: %v %v", ok, err)
	}
	if ok, err := tg.Exists(ctx, "missing.sql"); ok || err != nil {
		t.Errorf("missing: %v %v", ok, err)
	}
	if _, err := tg.Exists(ctx, "forbidden.sql"); err == nil || !strings.HasPrefix(err.Error(), "s3://bucket/piyasa/forbidden.sql: ") {
		t.Errorf("forbidden: %v", err)
	}
	if raw, err := tg.ReadMeta(ctx, "a.sql.gz"); err != nil || string(raw) != `{"name":"a.sql.gz"}` {
		t.Errorf("meta: %q %v", raw, err)
	}
	if _, err := tg.ReadMeta(ctx, "b.sql.zst"); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "s3://bucket/piyasa/b.sql.zst.json") {
		t.Errorf("missing meta: %v", err)
	}
	es, err := tg.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, fmt.Sprintf("%s:%d", e.Name, e.Size))
	}
	if got := strings.Join(names, " "); got != "a.sql.gz:2 b.sql.zst:4 redis-x.rdb.zst:1" {
		t.Errorf("list %s", got)
	}
}
