package blobstore

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"sort"
)

// NewUploadRequest builds the HTTP request that uploads body through u: a
// PUT of the bytes with u.Headers, or a multipart/form-data POST of u.Fields
// followed by the bytes as the part named "file".
func NewUploadRequest(ctx context.Context, u Upload, body []byte) (*http.Request, error) {
	if u.Method != http.MethodPost {
		req, err := http.NewRequestWithContext(ctx, u.Method, u.URL, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		for k, v := range u.Headers {
			req.Header.Set(k, v)
		}
		return req, nil
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	names := make([]string, 0, len(u.Fields))
	for k := range u.Fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := mw.WriteField(k, u.Fields[k]); err != nil {
			return nil, err
		}
	}
	fw, err := mw.CreateFormFile("file", "blob")
	if err != nil {
		return nil, err
	}
	if _, err := fw.Write(body); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.URL, &buf)
	if err != nil {
		return nil, err
	}
	for k, v := range u.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req, nil
}
