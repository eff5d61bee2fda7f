package deploy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/psql"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
)

// The replication of a fleet (deploy --fleet): Secret piyasa-replication,
// made once and written with the same keys in every region, the role
// piyasa_replicator in the primary's database, and the address at which the
// standbys reach the primary.

// replicationKeys are the keys of Secret piyasa-replication.
var replicationKeys = []string{app.KeyReplicationPassword, app.KeyTLSCert, app.KeyTLSKey}

// certValidity is how long the generated certificate of PostgreSQL is valid
// (sslmode=require encrypts without verifying it).
const certValidity = 10 * 365 * 24 * time.Hour

// replicationData returns the data of Secret piyasa-replication: the
// primary's when it has every key (a redeploy changes no password), else new
// values (generated bool).
func replicationData(ctx context.Context, g *cli.Global, now time.Time) (data map[string][]byte, generated bool, err error) {
	cs, err := g.Clientset()
	if err != nil {
		return nil, false, err
	}
	s, err := cs.CoreV1().Secrets(g.Namespace).Get(ctx, app.ReplicationSecret, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, false, fmt.Errorf("cannot read Secret %s: %w", app.ReplicationSecret, err)
	case hasKeys(s.Data, replicationKeys):
		return s.Data, false, nil
	}
	data, err = newReplicationData(g.Env.Prefix+app.ReplicationService+"."+g.Namespace+".svc", now)
	return data, true, err
}

func hasKeys(data map[string][]byte, keys []string) bool {
	for _, k := range keys {
		if len(data[k]) == 0 {
			return false
		}
	}
	return true
}

// newReplicationData generates the role's password (32 random bytes) and a
// self-signed certificate and key (ECDSA P-256) for PostgreSQL named dnsName.
func newReplicationData(dnsName string, now time.Time) (map[string][]byte, error) {
	pw := make([]byte, 32)
	if _, err := rand.Read(pw); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: dnsName, Organization: []string{"piyasa"}},
		DNSNames:     []string{dnsName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		app.KeyReplicationPassword: []byte(base64.RawURLEncoding.EncodeToString(pw)),
		app.KeyTLSCert:             pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		app.KeyTLSKey:              pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// applyReplicationSecret writes Secret piyasa-replication with data into
// the region's namespace (created first when missing) and says what changed,
// by key names only.
func applyReplicationSecret(ctx context.Context, g *cli.Global, data map[string][]byte, dryRun cli.DryRun) error {
	c, err := newClients(g)
	if err != nil {
		return err
	}
	if dryRun == cli.DryRunServer {
		if _, err := c.cs.CoreV1().Namespaces().Get(ctx, g.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			fmt.Fprintf(g.Out, "secret/%s would be created (%s, values not shown)%s\n", app.ReplicationSecret, cli.Plural(len(data), "key", "keys"), dryRun.Suffix())
			return nil
		}
	}
	if err := ensureNamespace(ctx, c, g.Namespace, dryRun); err != nil {
		return err
	}
	want := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: app.ReplicationSecret, Namespace: g.Namespace, Labels: map[string]string{app.PartOfLabel: app.PartOfValue}},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
	sp, err := planSecret(ctx, c.cs, want)
	if err != nil {
		return err
	}
	if err := applySecret(ctx, c.cs, sp, dryRun); err != nil {
		return err
	}
	fmt.Fprintf(g.Out, "secret/%s %s (%s, values not shown)%s\n", app.ReplicationSecret, sp.change, cli.Plural(len(data), "key", "keys"), dryRun.Suffix())
	return nil
}

// stdinExec runs cmd in a container of pod with stdin and returns its
// standard error.
type stdinExec func(ctx context.Context, g *cli.Global, pod, container string, cmd []string, stdin io.Reader) (stderr []byte, err error)

// kubeStdinExec is the stdinExec of the real cluster.
func kubeStdinExec(ctx context.Context, g *cli.Global, pod, container string, cmd []string, stdin io.Reader) ([]byte, error) {
	cfg, err := g.RESTConfig()
	if err != nil {
		return nil, err
	}
	cs, err := g.Clientset()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	err = kube.Exec(ctx, cfg, cs, g.Namespace, pod, container, cmd, kube.ExecStreams{Stdin: stdin, Stdout: io.Discard, Stderr: &stderr})
	return stderr.Bytes(), err
}

// ensureReplicationRole creates the role piyasa_replicator in the primary's
// database when it is missing and sets its password, through psql in the
// postgres pod. The SQL goes in on stdin, framed by its length (kwok's exec
// does not end at stdin's EOF), and holds the password's SCRAM verifier, never
// the password: neither a command line nor the server's log shows it.
func ensureReplicationRole(ctx context.Context, g *cli.Global, exec stdinExec, password []byte) error {
	cs, err := g.Clientset()
	if err != nil {
		return err
	}
	pod, container, err := kube.PostgresPod(ctx, cs, g.Namespace)
	if err != nil {
		return err
	}
	verifier, err := scramVerifier(password)
	if err != nil {
		return err
	}
	sql := replicationRoleSQL(verifier)
	script := psql.Env + "head -c " + strconv.Itoa(len(sql)) + " | psql -X -q --no-psqlrc -v ON_ERROR_STOP=1 --dbname=" + app.DatabaseName
	stderr, err := exec(ctx, g, pod.Name, container, []string{"sh", "-c", script}, bytes.NewReader([]byte(sql)))
	if err != nil {
		why := output.FirstLine(string(stderr))
		if why == "" {
			why = output.FirstLine(err.Error())
		}
		// Text from the pod is masked; the verifier is no password, but kept out too.
		why = redact.Line(strings.ReplaceAll(why, verifier, "***"))
		return fmt.Errorf("cannot create the replication role %s in pod %s: %s", app.ReplicationRole, pod.Name, why)
	}
	return nil
}

// replicationRoleSQL creates the role when missing and sets its rights and
// password (a SCRAM verifier): idempotent.
func replicationRoleSQL(verifier string) string {
	return "SELECT 'CREATE ROLE " + app.ReplicationRole + "' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + app.ReplicationRole + "')\\gexec\n" +
		"ALTER ROLE " + app.ReplicationRole + " WITH LOGIN REPLICATION PASSWORD '" + verifier + "';\n"
}

// scramIterations is PostgreSQL's default scram_iterations.
const scramIterations = 4096

// scramVerifier is the SCRAM-SHA-256 secret PostgreSQL stores for password
// (RFC 5802 and 7677, PostgreSQL's format): the server keeps it as given.
func scramVerifier(password []byte) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	salted, err := pbkdf2.Key(sha256.New, string(password), salt, scramIterations, sha256.Size)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(stored[:]), b64(mac(salted, "Server Key"))), nil
}

// primaryAddress is where the standbys reach the primary region's database:
// the fleet's settings.primaryHost, else the replication Service's
// load-balancer address; the port is settings.primaryPort, else the
// Service's node port (NodePort) or port.
func primaryAddress(ctx context.Context, g *cli.Global, s fleet.Replication) (string, int, error) {
	cs, err := g.Clientset()
	if err != nil {
		return "", 0, err
	}
	name := g.Env.Prefix + app.ReplicationService
	svc, err := cs.CoreV1().Services(g.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", 0, fmt.Errorf("cannot read the primary's Service %s: %w", name, err)
	}
	host, port := s.Host, s.Port
	if port == 0 && len(svc.Spec.Ports) > 0 {
		port = int(svc.Spec.Ports[0].Port)
		if svc.Spec.Type == corev1.ServiceTypeNodePort && s.Host != "" {
			port = int(svc.Spec.Ports[0].NodePort)
		}
	}
	if host != "" {
		return host, port, nil
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return "", 0, fmt.Errorf("the primary's Service %s is of type %s: the fleet must say where the standbys reach it (settings.primaryHost)", name, svc.Spec.Type)
	}
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			return in.IP, port, nil
		}
		if in.Hostname != "" {
			return in.Hostname, port, nil
		}
	}
	return "", 0, fmt.Errorf("the primary's Service %s has no load-balancer address yet", name)
}

// hostPort joins a host and a port for messages.
func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
