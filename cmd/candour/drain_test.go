package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"candour/internal/dbtest"
	"candour/internal/portaltest"
)

// A load balancer must take a stopping portal out before it stops answering. On SIGTERM the
// portal's /healthz and /readyz answer 503 at once, while an upload already arriving finishes
// (201) and new requests are still served until CANDOUR_SHUTDOWN_DRAIN ends; then the process
// stops taking connections and exits 0.
func TestSIGTERMFailsHealthChecksWhileDraining(t *testing.T) {
	addr := freeAddr(t)
	base := "http://" + addr
	r := command(map[string]string{"DATABASE_URL": dbtest.NewURL(t), "CANDOUR_DATA_DIR": t.TempDir(), "CANDOUR_LISTEN": addr,
		"CANDOUR_POLICY_DIR": filepath.Join(portaltest.Root(), "policies"), "CANDOUR_SHUTDOWN_DRAIN": "3s"}, "serve")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.cmd.Process.Kill()
	waitReady(t, base, r)
	token := openMailbox(t, base)

	// An upload half sent: the handler is reading it when the signal comes.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "minutes.txt")
	fw.Write(bytes.Repeat([]byte("minutes of the meeting\n"), 2000))
	mw.Close()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	half := form.Len() / 2
	fmt.Fprintf(conn, "POST /api/v1/mailbox/attachments HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\n"+
		"Content-Length: %d\r\n\r\n", addr, token, mw.FormDataContentType(), form.Len())
	conn.Write(form.Bytes()[:half])
	time.Sleep(300 * time.Millisecond)

	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	status := func(path string) int {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s while draining: %v (the portal stopped answering before the drain ended)", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The signal takes a moment to arrive; from then on the checks fail.
	deadline := time.Now().Add(2 * time.Second)
	for status("/healthz") == http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/healthz still 200 two seconds after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if got := status(path); got != http.StatusServiceUnavailable {
			t.Errorf("GET %s while draining: got %d, want 503", path, got)
		}
	}
	if got := status("/api/v1/service-areas"); got != http.StatusOK {
		t.Errorf("a new request while draining: got %d, want 200 (still served)", got)
	}

	conn.Write(form.Bytes()[half:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the upload in flight at SIGTERM: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || !resp.Close {
		t.Errorf("the upload in flight at SIGTERM: got %d (connection close %v) %s, want 201 closing the connection", resp.StatusCode, resp.Close, body)
	}

	exited := make(chan error, 1)
	go func() { exited <- r.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want 0\nstderr: %s", err, r.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the portal did not stop within 30 s of SIGTERM\nstderr: %s", r.stderr)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("still taking connections after it exited")
	}
}

// openMailbox files an anonymous report at base and opens its mailbox; it returns the token.
func openMailbox(t *testing.T, base string) string {
	t.Helper()
	post := func(path string, in any, out any) {
		b, _ := json.Marshal(in)
		resp, err := http.Post(base+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 || json.NewDecoder(resp.Body).Decode(out) != nil {
			t.Fatalf("POST %s: got %d", path, resp.StatusCode)
		}
	}
	var filed struct{ Receipt string }
	post("/api/v1/reports", map[string]any{"mode": "anonymous", "service_area": "housing", "category": "other",
		"summary": "Minutes changed", "details": "The minutes were changed after the meeting.", "lang": "en"}, &filed)
	var opened struct{ Token string }
	post("/api/v1/mailbox/session", map[string]string{"receipt": filed.Receipt}, &opened)
	return opened.Token
}
