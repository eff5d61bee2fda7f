package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A replication server (WithReplication, StartStandby, Follow) accepts TLS
// with a self-signed certificate of its own; plain connections still work.

// TLSCert is the path of the server's certificate (PEM, in Dir, the data
// directory's parent); it is its own CA: sslrootcert for sslmode=verify-full.
func (p *Postgres) TLSCert() string { return filepath.Join(p.Dir, "server.crt") }

// TLSKey is the path of the server's private key (mode 0600).
func (p *Postgres) TLSKey() string { return filepath.Join(p.Dir, "server.key") }

// ensureTLS makes the server's self-signed certificate (ECDSA P-256,
// CN=localhost, SAN 127.0.0.1 and localhost, valid a day) and key, once.
func (p *Postgres) ensureTLS() error {
	if _, err := os.Stat(p.TLSKey()); err == nil {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := p.writeFile(p.TLSCert(), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))); err != nil {
		return err
	}
	return p.writeFile(p.TLSKey(), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})))
}

// tlsOptions are the server settings that turn TLS on with ensureTLS's files.
func (p *Postgres) tlsOptions() string {
	return fmt.Sprintf(" -c ssl=on -c ssl_cert_file=%s -c ssl_key_file=%s", p.TLSCert(), p.TLSKey())
}

// withTLS makes the certificate and adds tlsOptions to the server's settings (once).
func (p *Postgres) withTLS() error {
	if err := p.ensureTLS(); err != nil {
		return fmt.Errorf("harness: the server's TLS certificate: %v", err)
	}
	if !strings.Contains(p.serverOpts, " -c ssl=on ") {
		p.serverOpts += p.tlsOptions()
	}
	return nil
}
