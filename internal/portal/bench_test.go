package portal_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"candour/internal/portaltest"
)

// latencies runs n calls of fn over `clients` goroutines and returns throughput and p99.
func latencies(n, clients int, fn func() error) (perSec float64, p99 time.Duration, err error) {
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	jobs := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, n/clients+1)
			for range jobs {
				t0 := time.Now()
				if err := fn(); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			all = append(all, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return float64(n) / elapsed.Seconds(), all[len(all)*99/100], firstErr
}

// BenchmarkAnonymousSubmission: 64 concurrent clients submit anonymous reports over HTTP on
// loopback. The floor is the same number of plain INSERTs of an equal-size row through the
// same pool, measured in the same run. Target: ratio ≥ 0.6, p99 ≤ 50 ms.
func BenchmarkAnonymousSubmission(b *testing.B) {
	const n, clients = 3000, 64
	e := portaltest.Start(b)
	details := strings.Repeat("Cases were closed early to hit the target. ", 40)
	body, _ := json.Marshal(map[string]any{"mode": "anonymous", "service_area": "childrens-services", "category": "misconduct",
		"summary": "Cases closed early to meet targets", "details": details, "lang": "en"})
	if _, err := e.DB.Exec(`CREATE TABLE bench_floor (id bigserial PRIMARY KEY, reference text, payload bytea, created_at timestamptz DEFAULT now())`); err != nil {
		b.Fatal(err)
	}
	row := make([]byte, 1900) // about what a sealed concern row carries
	rand.Read(row)
	var seq int64
	var seqMu sync.Mutex
	floor, floorP99, err := latencies(n, clients, func() error {
		seqMu.Lock()
		seq++
		ref := strconv.FormatInt(seq, 10)
		seqMu.Unlock()
		_, err := e.DB.Exec(`INSERT INTO bench_floor (reference, payload) VALUES ($1, $2)`, ref, row)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	// Idle keep-alive connections would hold the portal's shutdown until its timeout.
	b.Cleanup(client.CloseIdleConnections)
	b.ResetTimer()
	got, p99, err := latencies(n, clients, func() error {
		resp, err := client.Post(e.URL()+"/api/v1/reports", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(floor, "floor_inserts/s")
	b.ReportMetric(float64(floorP99.Microseconds())/1000, "floor_p99_ms")
	b.ReportMetric(got, "submissions/s")
	b.ReportMetric(got/floor, "ratio_to_floor")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
}

// peakRSSReset clears the kernel's high-water mark so VmHWM measures from now.
func peakRSSReset() error { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func vm(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), field+":") {
			kb, _ := strconv.ParseInt(strings.Fields(sc.Text())[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkLargeAttachment streams a 1 GiB file through the mailbox, with attachments in
// PostgreSQL (the default) and in a blob folder (CANDOUR_BLOB_DIR). Targets: peak RSS growth
// ≤ 64 MiB, throughput ≥ 0.5 of the age CLI encrypting the same file on this machine, measured
// in the same run (to /dev/null: the floor; to a file on the same disk: for reference).
func BenchmarkLargeAttachment(b *testing.B) {
	const size = 1 << 30
	dir := b.TempDir()
	path := filepath.Join(dir, "evidence.bin")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	block := make([]byte, 4<<20)
	rand.Read(block)
	for written := 0; written < size; written += len(block) {
		f.Write(block)
	}
	f.Close()

	// Floor: the upstream age CLI encrypting the same file.
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	ageRun := func(out string) float64 {
		t0 := time.Now()
		if out, err := exec.Command("age", "-r", id.Recipient().String(), "-o", out, path).CombinedOutput(); err != nil {
			b.Fatalf("age: %v %s", err, out)
		}
		return time.Since(t0).Seconds()
	}
	ageSecs := ageRun("/dev/null")
	ageFileSecs := ageRun(filepath.Join(dir, "evidence.age"))
	os.Remove(filepath.Join(dir, "evidence.age"))

	for _, store := range []struct{ name, blobDir string }{
		{"postgres", ""},
		{"files", filepath.Join(dir, "blobs")},
	} {
		b.Run("store="+store.name, func(b *testing.B) {
			opts := []portaltest.Option{portaltest.Setting("CANDOUR_MAX_ATTACHMENT_MB", "1100")}
			if store.blobDir != "" {
				opts = append(opts, portaltest.Setting("CANDOUR_BLOB_DIR", store.blobDir))
			}
			e := portaltest.Start(b, opts...)
			secs, growth := uploadLarge(b, e, path, size)
			b.ReportMetric(float64(size)/(1<<20)/ageSecs, "age_MB/s")
			b.ReportMetric(float64(size)/(1<<20)/ageFileSecs, "age_to_file_MB/s")
			b.ReportMetric(float64(size)/(1<<20)/secs, "upload_MB/s")
			b.ReportMetric(ageSecs/secs, "ratio_to_age")
			b.ReportMetric(float64(growth)/(1<<20), "peak_rss_growth_MiB")
		})
	}
}

// uploadLarge files a report, opens its mailbox and uploads the file at path as a browser
// does: one multipart body of known length. It returns the upload's seconds and the peak RSS
// growth of this process (client and portal) during it.
func uploadLarge(b *testing.B, e *portaltest.Env, path string, size int64) (secs float64, growth int64) {
	body, _ := json.Marshal(map[string]any{"mode": "anonymous", "service_area": "housing", "category": "other",
		"summary": "Evidence", "details": "See the file.", "lang": "en"})
	resp, err := http.Post(e.URL()+"/api/v1/reports", "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	var filed struct{ Receipt string }
	json.NewDecoder(resp.Body).Decode(&filed)
	resp.Body.Close()
	rb, _ := json.Marshal(map[string]string{"receipt": filed.Receipt})
	resp, err = http.Post(e.URL()+"/api/v1/mailbox/session", "application/json", bytes.NewReader(rb))
	if err != nil {
		b.Fatal(err)
	}
	var tok struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()

	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	if _, err := mw.CreateFormFile("file", "evidence.bin"); err != nil {
		b.Fatal(err)
	}
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	src, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	req, _ := http.NewRequestWithContext(context.Background(), "POST", e.URL()+"/api/v1/mailbox/attachments",
		io.MultiReader(bytes.NewReader(head.Bytes()), src, strings.NewReader(tail)))
	req.ContentLength = int64(head.Len()) + size + int64(len(tail))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+tok.Token)

	runtime.GC()
	rssBefore := vm("VmRSS")
	if err := peakRSSReset(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	t0 := time.Now()
	resp, err = http.DefaultClient.Do(req)
	secs = time.Since(t0).Seconds()
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		b.Fatalf("upload: %d %s", resp.StatusCode, out)
	}
	var att struct{ Size int64 }
	if json.Unmarshal(out, &att); att.Size != size {
		b.Fatalf("upload: stored %d bytes, want %d", att.Size, size)
	}
	return secs, vm("VmHWM") - rssBefore
}
