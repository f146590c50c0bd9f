// Package mailtest runs a real SMTP server (emersion/go-smtp) on 127.0.0.1 for tests, with a
// test certificate authority: it refuses MAIL before the connection is encrypted, as a
// council's relay would, offers AUTH PLAIN only over TLS, and records what it accepts.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// PKI is a certificate authority and a server certificate it signed for 127.0.0.1 and
// localhost, as a council's mail relay would present.
type PKI struct {
	CAFile string // PEM of the authority, for CANDOUR_SMTP_CA_FILE
	server tls.Certificate
}

func NewPKI(t *testing.T) *PKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Candour test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &PKI{CAFile: caFile, server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// Received is one message the server accepted: its envelope, data, the AUTH user if any, and
// whether it came over TLS.
type Received struct {
	From, To, Data, User string
	TLS                  bool
}

// Server is a real SMTP server (emersion/go-smtp) on 127.0.0.1. Like a council's relay it
// refuses MAIL before the connection is encrypted (unless plain is asked for), and it offers
// AUTH PLAIN only over TLS.
type Server struct {
	Addr string // host:port to send to
	mu   sync.Mutex
	mail []Received
}

type Mode int

const (
	STARTTLS    Mode = iota // STARTTLS offered and required
	ImplicitTLS             // TLS from the first byte
	PlainOnly               // no TLS at all (a relay on this machine)
)

func Start(t *testing.T, pki *PKI, mode Mode) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &Server{Addr: ln.Addr().String()}
	s := smtp.NewServer(m)
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	tlsConf := &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}
	switch mode {
	case STARTTLS:
		s.TLSConfig = tlsConf
	case ImplicitTLS:
		ln = tls.NewListener(ln, tlsConf)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return m
}

func (m *Server) Messages() []Received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Received(nil), m.mail...)
}

// NewSession is go-smtp's Backend.
func (m *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &mailSession{server: m, conn: c, msg: Received{TLS: isTLS}}, nil
}

type mailSession struct {
	server *Server
	conn   *smtp.Conn
	msg    Received
}

var errTLSFirst = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}

func (s *mailSession) encrypted() bool {
	_, ok := s.conn.TLSConnectionState()
	return ok
}

func (s *mailSession) AuthMechanisms() []string {
	if !s.encrypted() {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "relay-user" || pass != "relay-secret" {
			return errors.New("invalid credentials")
		}
		s.msg.User = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	// A server without TLS (PlainOnly) has no TLS config: it is the local relay case.
	if !s.encrypted() && s.conn.Server().TLSConfig != nil {
		return errTLSFirst
	}
	s.msg.From, s.msg.TLS = from, s.encrypted()
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.msg.To = to; return nil }

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = string(b)
	s.server.mu.Lock()
	s.server.mail = append(s.server.mail, s.msg)
	s.server.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.msg = Received{User: s.msg.User} }
func (s *mailSession) Logout() error { return nil }

// WaitUntil waits up to d for what has arrived to satisfy done, and returns it.
func (m *Server) WaitUntil(done func([]Received) bool, d time.Duration) []Received {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if got := m.Messages(); done(got) {
			return got
		}
	}
	return m.Messages()
}
