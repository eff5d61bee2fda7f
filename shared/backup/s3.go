package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/piyasa/kubectl-piyasa/shared/backup/backupflags"
)

// S3Flags are the object storage settings (declared, with their flags, in
// backupflags.S3) and the client they make, once.
type S3Flags struct {
	backupflags.S3

	once   sync.Once
	client *minio.Client
	err    error
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// Client returns the S3 client, made once.
func (f *S3Flags) Client() (*minio.Client, error) {
	f.once.Do(func() { f.client, f.err = f.newClient() })
	return f.client, f.err
}

func (f *S3Flags) newClient() (*minio.Client, error) {
	endpoint := f.Endpoint
	if endpoint == "" {
		endpoint = firstEnv("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
	}
	region := f.Region
	if region == "" {
		region = firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if region == "" {
		region = "us-east-1"
	}
	access := f.AccessKey
	if access == "" {
		access = os.Getenv("AWS_ACCESS_KEY_ID")
	}
	secret := f.SecretKey
	if secret == "" {
		secret = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	host, secure, lookup := "s3.amazonaws.com", true, minio.BucketLookupAuto
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("invalid S3 endpoint %q: want http(s)://HOST[:PORT]", endpoint)
		}
		host, secure, lookup = u.Host, u.Scheme == "https", minio.BucketLookupPath
	}
	var creds *credentials.Credentials
	if access != "" || secret != "" {
		creds = credentials.NewStaticV4(access, secret, os.Getenv("AWS_SESSION_TOKEN"))
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}, &credentials.IAM{}})
	}
	return minio.New(host, &minio.Options{Creds: creds, Secure: secure, Region: region, BucketLookup: lookup})
}

// S3Target stores backups as objects under a prefix of a bucket.
type S3Target struct {
	Flags  *S3Flags
	Bucket string
	Prefix string
}

func (t *S3Target) key(name string) string {
	if t.Prefix == "" {
		return name
	}
	return t.Prefix + "/" + name
}

// Location implements Target.
func (t *S3Target) Location(name string) string { return S3Scheme + t.Bucket + "/" + t.key(name) }

// PartSize is the multipart part size: each part is buffered once in memory,
// so it bounds the memory an upload takes.
const PartSize = 8 << 20

var errAborted = errors.New("backup aborted")

// Create implements Target: a multipart upload fed through a pipe. The object
// exists only after Commit; Abort fails the upload's reader, so that minio-go
// aborts it, and then removes any incomplete upload left of that key.
func (t *S3Target) Create(ctx context.Context, name string) (Sink, error) {
	c, err := t.Flags.Client()
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	s := &s3Sink{pw: pw, done: make(chan struct{}), t: t, c: c, key: t.key(name)}
	go func() {
		defer close(s.done)
		_, s.err = c.PutObject(ctx, t.Bucket, s.key, pr, -1, minio.PutObjectOptions{
			PartSize: PartSize, ContentType: "application/octet-stream", DisableContentSha256: false,
		})
		_ = pr.CloseWithError(errAborted) // a failed upload stops the writer
	}()
	return s, nil
}

type s3Sink struct {
	pw       *io.PipeWriter
	done     chan struct{}
	err      error
	t        *S3Target
	c        *minio.Client
	key      string
	finished bool
}

func (s *s3Sink) Write(p []byte) (int, error) {
	n, err := s.pw.Write(p)
	if err != nil {
		<-s.done
		if s.err != nil {
			return n, fmt.Errorf("upload to %s: %w", s.t.Location(path.Base(s.key)), s.err)
		}
	}
	return n, err
}

// Commit ends the stream: minio-go uploads the last part and completes the upload.
func (s *s3Sink) Commit(context.Context) error {
	s.finished = true
	_ = s.pw.Close()
	<-s.done
	if s.err != nil {
		s.cleanup()
		return fmt.Errorf("upload to %s: %w", s.t.Location(path.Base(s.key)), s.err)
	}
	return nil
}

// Abort fails the stream and removes the incomplete upload.
func (s *s3Sink) Abort() {
	if s.finished {
		return
	}
	s.finished = true
	_ = s.pw.CloseWithError(errAborted)
	<-s.done
	s.cleanup()
}

func (s *s3Sink) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = s.c.RemoveIncompleteUpload(ctx, s.t.Bucket, s.key)
}

// Exists reports whether the backup object name exists (a HEAD request).
func (t *S3Target) Exists(ctx context.Context, name string) (bool, error) {
	c, err := t.Flags.Client()
	if err != nil {
		return false, err
	}
	if _, err := c.StatObject(ctx, t.Bucket, t.key(name), minio.StatObjectOptions{}); err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "NoSuchKey" || r.StatusCode == 404 {
			return false, nil
		}
		return false, s3Err(t.Location(name), err)
	}
	return true, nil
}

// Open implements Target.
func (t *S3Target) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	c, err := t.Flags.Client()
	if err != nil {
		return nil, err
	}
	obj, err := c.GetObject(ctx, t.Bucket, t.key(name), minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	if _, err := obj.Stat(); err != nil {
		_ = obj.Close()
		return nil, s3Err(t.Location(name), err)
	}
	return obj, nil
}

func s3Err(loc string, err error) error {
	if r := minio.ToErrorResponse(err); r.Code == "NoSuchKey" || r.StatusCode == 404 {
		return fmt.Errorf("%s: %w", loc, os.ErrNotExist)
	}
	return fmt.Errorf("%s: %v", loc, err)
}

// WriteMeta implements Target (a single PUT: S3 objects appear whole).
func (t *S3Target) WriteMeta(ctx context.Context, name string, data []byte) error {
	c, err := t.Flags.Client()
	if err != nil {
		return err
	}
	_, err = c.PutObject(ctx, t.Bucket, t.key(name+MetadataSuffix), bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "application/json"})
	if err != nil {
		return fmt.Errorf("upload %s: %v", t.Location(name+MetadataSuffix), err)
	}
	return nil
}

// ReadMeta implements Target.
func (t *S3Target) ReadMeta(ctx context.Context, name string) ([]byte, error) {
	r, err := t.Open(ctx, name+MetadataSuffix)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, 16<<20))
}

// List implements Target: the backups directly under the prefix.
func (t *S3Target) List(ctx context.Context) ([]Entry, error) {
	all, err := t.ListFiles(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, e := range all {
		if IsBackupName(e.Name) {
			out = append(out, e)
		}
	}
	return out, nil
}
