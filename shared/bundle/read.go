package bundle

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
)

// File is one file of a bundle as Read returns it.
type File struct {
	Header *tar.Header
	Data   []byte
}

// Read returns the files of a bundle (a gzip tar) in their order, so that a
// person's tools, a runbook check or a test can look inside it.
func Read(r io.Reader) ([]File, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a gzip bundle: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	var files []File
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("bundle %s: %w", h.Name, err)
		}
		files = append(files, File{Header: h, Data: b})
	}
}
