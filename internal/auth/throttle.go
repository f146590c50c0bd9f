package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"candour/internal/fault"
)

// Failed sign-ins slow down and then are refused for a while, never locked (NIST SP 800-63B
// §5.2.2; OWASP's device cookies). Budgets are kept per account for browsers that never signed
// in to it, and per device for each browser that did, so someone who knows the Monitoring
// Officer's e-mail address can exhaust the first but never the Monitoring Officer's own
// browser's. They live in memory: a restart forgets them, which costs an attacker a restart
// they cannot cause, and no table grows with what an attacker sends.
const (
	freeFailures = 5                // typos: answered at once
	maxDelay     = 15 * time.Minute // the slowest: 96 guesses a day per account
	forgetAfter  = 24 * time.Hour   // a budget nobody failed for this long starts afresh
	// maxBudgets per kind bounds the memory an attacker's made-up addresses can take (about
	// 100 bytes each); past it, new keys share one budget and the existing ones keep theirs.
	maxBudgets = 100_000
)

// ErrBusy: too many sign-ins are waiting for a password check; nothing was checked.
var ErrBusy = &fault.Error{Kind: fault.TooMany, Code: "busy", Message: "auth.busy", RetryAfter: time.Second}

// errThrottled is the refusal of a sign-in whose budget must wait d.
func errThrottled(d time.Duration) error {
	return &fault.Error{Kind: fault.TooMany, Code: "too_many_attempts", Message: "auth.throttled", RetryAfter: d}
}

// delayAfter is how long the next attempt must wait after n consecutive failures: nothing for
// the first freeFailures, then 1 s doubling to maxDelay.
func delayAfter(n int) time.Duration {
	if n < freeFailures {
		return 0
	}
	if n-freeFailures >= 10 { // 1 s << 10 is past maxDelay; larger shifts would overflow
		return maxDelay
	}
	return min(time.Second<<(n-freeFailures), maxDelay)
}

type budget struct {
	failures int
	next     time.Time // no attempt before
	last     time.Time // latest failure
}

type budgets struct {
	m        map[[16]byte]*budget
	overflow budget
	swept    time.Time
}

// get returns key's budget, nil when it has none and none is made.
func (b *budgets) get(key [16]byte, now time.Time, create bool) *budget {
	if e, ok := b.m[key]; ok {
		if now.Sub(e.last) > forgetAfter {
			*e = budget{}
		}
		return e
	}
	if !create {
		return nil
	}
	if len(b.m) >= maxBudgets && now.Sub(b.swept) > time.Minute {
		b.swept = now
		for k, e := range b.m {
			if now.Sub(e.last) > forgetAfter {
				delete(b.m, k)
			}
		}
	}
	if len(b.m) >= maxBudgets {
		return &b.overflow
	}
	e := &budget{}
	b.m[key] = e
	return e
}

// throttle holds the budgets.
type throttle struct {
	mu       sync.Mutex
	accounts budgets // by e-mail address, for unknown browsers
	devices  budgets // by device id
}

func newThrottle() *throttle {
	return &throttle{accounts: budgets{m: map[[16]byte]*budget{}}, devices: budgets{m: map[[16]byte]*budget{}}}
}

// charge is the budget an attempt spends: a device's, or an account's for unknown browsers.
type charge struct {
	device bool
	key    [16]byte
}

// wait is how long the attempt must still wait (0: it may go ahead).
func (t *throttle) wait(c charge, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.of(c).get(c.key, now, false); e != nil && now.Before(e.next) {
		return e.next.Sub(now)
	}
	return 0
}

// fail records a failed attempt.
func (t *throttle) fail(c charge, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.of(c).get(c.key, now, true)
	e.failures++
	e.last = now
	e.next = now.Add(delayAfter(e.failures))
}

// succeed clears the budget the successful attempt was charged to.
func (t *throttle) succeed(c charge) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.of(c).m, c.key)
}

func (t *throttle) of(c charge) *budgets {
	if c.device {
		return &t.devices
	}
	return &t.accounts
}

// accountCharge is the budget of unknown browsers for an e-mail address, whether or not it has
// an account: the two must throttle alike, or the throttle would tell which addresses do.
func accountCharge(email string) charge {
	sum := sha256.Sum256([]byte(strings.ToLower(email)))
	return charge{key: [16]byte(sum[:16])}
}

// A device cookie names the account it signed in to and a random device id, with an
// HMAC-SHA256 over both under the device key: base64url(user id ‖ device id ‖ mac). It opens
// nothing; it only says which budget a sign-in attempt spends.
const (
	deviceIDSize  = 16
	deviceMACSize = 32
	deviceDomain  = "candour device cookie v1\x00"
)

type deviceCookies struct{ key []byte }

func (d deviceCookies) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(deviceDomain))
	m.Write(payload)
	return m.Sum(nil)
}

// issue makes a cookie value for a new device of userID.
func (d deviceCookies) issue(userID int64) (string, error) {
	b := make([]byte, 8+deviceIDSize, 8+deviceIDSize+deviceMACSize)
	binary.BigEndian.PutUint64(b, uint64(userID))
	if _, err := rand.Read(b[8:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(append(b, d.mac(b)...)), nil
}

// open checks a cookie value and returns the account it names and its device id; ok is false
// for anything this key did not make.
func (d deviceCookies) open(v string) (userID int64, id [16]byte, ok bool) {
	if len(v) > 128 {
		return 0, id, false
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) != 8+deviceIDSize+deviceMACSize {
		return 0, id, false
	}
	payload := b[:8+deviceIDSize]
	if !hmac.Equal(d.mac(payload), b[len(payload):]) {
		return 0, id, false
	}
	return int64(binary.BigEndian.Uint64(b)), [16]byte(b[8:]), true
}

// DeviceKeySize is the size of the key device cookies are signed with.
const DeviceKeySize = 32

// The device cookie as the surfaces keep it: only on the sign-in paths that read it, so it
// never travels with anything else (a staff member may also be an anonymous reporter), and
// for as long as browsers keep a cookie (400 days).
const (
	DeviceCookie    = "candour_device"
	DeviceCookieTTL = 400 * 24 * time.Hour
)
