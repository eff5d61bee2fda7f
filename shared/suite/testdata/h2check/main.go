// Command h2check prints the protocol that a client-go REST transport speaks
// to a TLS server offering HTTP/2 (for TestClientGoSpeaksHTTP2UnderBuildTags).
package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	"golang.org/x/net/http2"
	"k8s.io/client-go/rest"
)

func main() {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Proto) }))
	if err := http2.ConfigureServer(s.Config, nil); err != nil {
		fail(err)
	}
	s.TLS = s.Config.TLSConfig
	s.StartTLS()
	defer s.Close()
	rt, err := rest.TransportFor(&rest.Config{Host: s.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
	if err != nil {
		fail(err)
	}
	resp, err := (&http.Client{Transport: rt}).Get(s.URL)
	if err != nil {
		fail(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fail(err)
	}
	fmt.Println(string(body))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
