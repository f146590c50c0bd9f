package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"candour/internal/audit"
	"candour/internal/fault"
	"candour/internal/store"
)

// Purposes of what auth seals with the server key (seal.ServerKey.SealFor).
const (
	sealTOTP = "totp"
	sealLink = "enrolment-link"
)

// EnrolmentTTL is how long an enrolment link works: long enough for a weekend, short enough
// that an old e-mail is worth little.
const EnrolmentTTL = 72 * time.Hour

// ErrEnrolmentLink is the one answer to a link that is unknown, used or expired.
var ErrEnrolmentLink = fault.New(fault.NotFound, "enrolment_invalid", "enrol.invalid")

var errNoSecrets = errors.New("auth: no server key to seal secrets with")

// SealTOTP seals a TOTP secret for one account: bound to its id, so copied to another row it
// does not open.
func (s *Service) SealTOTP(userID int64, secret string) ([]byte, error) {
	if s.d.Secrets == nil {
		return nil, errNoSecrets
	}
	return s.d.Secrets.SealFor(sealTOTP, strconv.FormatInt(userID, 10), []byte(secret))
}

func (s *Service) openTOTP(userID int64, sealed []byte) (string, error) {
	if s.d.Secrets == nil {
		return "", errNoSecrets
	}
	b, err := s.d.Secrets.OpenFor(sealTOTP, strconv.FormatInt(userID, 10), sealed)
	return string(b), err
}

// SealPlainSecrets seals every TOTP secret stored before secrets were sealed (run at start) and
// returns how many it sealed.
func (s *Service) SealPlainSecrets(ctx context.Context) (int, error) {
	var n int
	err := s.d.Store.Tx(ctx, func(tx *store.Store) error {
		plain, err := tx.PlainTOTPSecrets(ctx)
		if err != nil {
			return err
		}
		for _, p := range plain {
			sealed, err := s.SealTOTP(p.UserID, p.Secret)
			if err != nil {
				return err
			}
			if err := tx.SealTOTPSecret(ctx, p.UserID, sealed); err != nil {
				return err
			}
		}
		n = len(plain)
		return nil
	})
	return n, err
}

// hashEnrolment is what the enrolments table keeps of a token: keyed with the server key, so a
// writer of the database cannot plant a token of their own and enrol in someone's place.
func (s *Service) hashEnrolment(token string) []byte {
	if s.d.Secrets == nil {
		return nil // no key, no enrolment: matches no row
	}
	return s.d.Secrets.MAC("enrolment", []byte(token))
}

// IssueEnrolment makes a single-use enrolment link for u, in tx, and puts it in the outbox to
// u's own address, sealed for that address: nobody who administers accounts ever sees it, and
// the link is never logged. Earlier unused links of u stop working.
func (s *Service) IssueEnrolment(ctx context.Context, tx *store.Store, u *store.User) error {
	if s.d.Secrets == nil {
		return errNoSecrets
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	if err := tx.InsertEnrolment(ctx, u.ID, s.hashEnrolment(tok), s.d.Now().Add(EnrolmentTTL)); err != nil {
		return err
	}
	page := "/staff/enrol"
	if u.Language == "cy" {
		page = "/cy/staff/enrol"
	}
	link := strings.TrimSuffix(s.d.PublicURL, "/") + page + "?token=" + tok
	sealed, err := s.d.Secrets.SealFor(sealLink, strings.ToLower(u.Email), []byte(link))
	if err != nil {
		return err
	}
	return tx.EnqueueEnrolment(ctx, u.Email, sealed)
}

// OpenLink opens an enrolment link in the outbox for its recipient, for the notifier: a
// link moved to another recipient's row does not open.
func (s *Service) OpenLink(recipient string, sealed []byte) (string, error) {
	if s.d.Secrets == nil {
		return "", errNoSecrets
	}
	b, err := s.d.Secrets.OpenFor(sealLink, strings.ToLower(recipient), sealed)
	return string(b), err
}

// EnrolmentToken reads the token out of an enrolment link.
func EnrolmentToken(link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", err
	}
	if t := u.Query().Get("token"); t != "" {
		return t, nil
	}
	return "", fmt.Errorf("auth: no token in the enrolment link")
}

// EnrolmentAccount returns the account an unused, unexpired link is for, or ErrEnrolmentLink.
func (s *Service) EnrolmentAccount(ctx context.Context, token string) (*store.User, error) {
	if len(token) == 0 || len(token) > 100 {
		return nil, ErrEnrolmentLink
	}
	id, err := s.d.Store.EnrolmentUser(ctx, s.hashEnrolment(token), s.d.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrEnrolmentLink
	}
	if err != nil {
		return nil, err
	}
	u, err := s.d.Store.UserByID(ctx, id)
	if err != nil || u.Status != "active" {
		return nil, ErrEnrolmentLink
	}
	return u, nil
}

// Enrol is what a person sends from their enrolment link: their own password, and a TOTP secret
// with a code from it that proves their authenticator holds it.
type Enrol struct {
	Token, Password, Secret, Code string
}

// Enrol uses the link once: it sets the password and second factor, ends any sessions of the
// account and returns the recovery codes to show once. Every field is checked before the link
// is used, so a mistyped code does not spend it.
func (s *Service) Enrol(ctx context.Context, e Enrol) ([]string, error) {
	u, err := s.EnrolmentAccount(ctx, e.Token)
	if err != nil {
		return nil, err
	}
	f := fault.Fields{}
	if err := CheckPassword(e.Password, u.Email); err != nil {
		f.Add("password", err.Error())
	}
	step, ok := int64(0), false
	if len(e.Secret) >= 16 && len(e.Secret) <= 64 {
		step, ok = checkTOTP(e.Secret, e.Code, s.d.Now(), 0)
	}
	if !ok {
		f.Add("code", "totp.wrong")
	}
	if len(f) > 0 {
		return nil, f.Err()
	}
	hash, err := HashPassword(e.Password, s.d.Params)
	if err != nil {
		return nil, err
	}
	sealed, err := s.SealTOTP(u.ID, e.Secret)
	if err != nil {
		return nil, err
	}
	codes, hashes, err := NewRecoveryCodes()
	if err != nil {
		return nil, err
	}
	err = s.d.Store.Tx(ctx, func(tx *store.Store) error {
		id, err := tx.UseEnrolment(ctx, s.hashEnrolment(e.Token), s.d.Now())
		if errors.Is(err, store.ErrNotFound) || (err == nil && id != u.ID) {
			return ErrEnrolmentLink // used by a concurrent request meanwhile
		}
		if err != nil {
			return err
		}
		if err := tx.SetPassword(ctx, u.ID, hash, false, s.d.Now()); err != nil {
			return err
		}
		if err := tx.SetTOTP(ctx, u.ID, sealed, true, hashes); err != nil {
			return err
		}
		if err := tx.UseTOTPStep(ctx, u.ID, step); err != nil {
			return err
		}
		if err := s.RevokeUser(ctx, tx, u.ID, "", "enrolled"); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{ActorID: u.ID, Action: "user.enrol", ObjectType: "user",
			ObjectID: strconv.FormatInt(u.ID, 10)})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}
