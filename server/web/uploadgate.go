package web

import (
	"net/http"
	"sync"
)

// OneUploadPerObject wraps the local blob store's upload handler (PUT
// /uploads/{capture_id}/{side}) so that each object has at most one upload
// in flight: another PUT to the same path while one is still being received
// is answered 429 before its body is read. The store writes each upload to
// a temporary file before it replaces the object, so without this one signed
// URL, sent many times at once, could hold many images' worth of bytes on
// disk; with it, an object holds at most two (the stored image and the one
// arriving). The bound is per server instance, as connections are.
func OneUploadPerObject(next http.Handler) http.Handler {
	var (
		mu   sync.Mutex
		busy = map[string]bool{}
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			next.ServeHTTP(w, r)
			return
		}
		key := r.URL.Path
		mu.Lock()
		if busy[key] {
			mu.Unlock()
			w.Header().Set("Retry-After", "1")
			// Not a byte of the body is read: the connection closes.
			w.Header().Set("Connection", "close")
			http.Error(w, "another upload to this URL is in progress", http.StatusTooManyRequests)
			return
		}
		busy[key] = true
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(busy, key)
			mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}
