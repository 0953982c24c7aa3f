package cognito

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"

	"github.com/dcrm-project/dcrm/shared/consoleauth"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// UsersFileName is the user pool's file in the issuer's folder.
const UsersFileName = "users.json"

// User statuses, as Cognito names them.
const (
	// StatusConfirmed: the user signs in with their password.
	StatusConfirmed = "CONFIRMED"
	// StatusForceChangePassword: the user was given a temporary password and must choose their own
	// at the first sign-in (the NEW_PASSWORD_REQUIRED challenge).
	StatusForceChangePassword = "FORCE_CHANGE_PASSWORD"
)

// Errors of the user file.
var (
	ErrUserExists   = errors.New("user already exists")
	ErrNoSuchUser   = errors.New("no such user")
	ErrBadUsername  = errors.New("invalid username")
	ErrWeakPassword = errors.New("password does not conform to policy")
)

// bcryptCost is the work factor of the password hashes (bcrypt's default: tens of milliseconds).
const bcryptCost = bcrypt.DefaultCost

// User is one user of the local pool. The password is kept as a bcrypt hash only.
type User struct {
	Username     string    `json:"username"`
	Sub          string    `json:"sub"`
	Email        string    `json:"email,omitempty"`
	Groups       []string  `json:"groups"`
	Status       string    `json:"status"`
	PasswordHash string    `json:"passwordHash"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

// Pool is the local user pool as its file holds it: the pool's and app client's ids (made once,
// shaped as Cognito's) and the users.
type Pool struct {
	ID       string `json:"poolId"`
	ClientID string `json:"clientId"`
	Users    []User `json:"users"`
}

// Find returns the user named username (case-insensitively, as the CDK pool signs in).
func (p *Pool) Find(username string) (*User, bool) {
	name := strings.ToLower(username)
	for i := range p.Users {
		if p.Users[i].Username == name {
			return &p.Users[i], true
		}
	}
	return nil, false
}

var usernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._@+-]{0,127}$`)

// CheckUsername says whether a name may be a username: letters, digits and ._@+- , at most 128.
func CheckUsername(name string) error {
	if !usernamePattern.MatchString(strings.ToLower(name)) {
		return fmt.Errorf("%w %q: want letters, digits and . _ @ + -, starting with a letter or digit, at most 128", ErrBadUsername, name)
	}
	return nil
}

// Password policy, the same as the CDK app's user pool.
const MinPasswordLength = 12

// CheckPassword applies the pool's password policy: at least MinPasswordLength characters, with
// a lower-case and an upper-case letter, a digit and a symbol; at most 72 bytes (bcrypt's limit).
func CheckPassword(pw string) error {
	var lower, upper, digit, symbol bool
	for _, r := range pw {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsPunct(r) || unicode.IsSymbol(r):
			symbol = true
		}
	}
	switch {
	case len([]rune(pw)) < MinPasswordLength:
		return fmt.Errorf("%w: at least %d characters", ErrWeakPassword, MinPasswordLength)
	case len(pw) > 72:
		return fmt.Errorf("%w: at most 72 bytes", ErrWeakPassword)
	case !lower || !upper || !digit || !symbol:
		return fmt.Errorf("%w: a lower-case and an upper-case letter, a digit and a symbol", ErrWeakPassword)
	}
	return nil
}

// NewPassword makes a random password of 20 characters that meets the policy.
func NewPassword() string {
	const (
		lower  = "abcdefghijkmnopqrstuvwxyz"
		upper  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		digits = "23456789"
		symbol = "%+-.:=@_" // none that a shell or an env file would quote
		all    = lower + upper + digits + symbol
	)
	pick := func(set string) byte {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		return set[n.Int64()]
	}
	for {
		b := make([]byte, 20)
		for i := range b {
			b[i] = pick(all)
		}
		if CheckPassword(string(b)) == nil {
			return string(b)
		}
	}
}

// hashPassword returns the bcrypt hash of pw.
func hashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// checkPassword tells whether pw is the user's password, in time that does not depend on where
// it differs.
func (u *User) checkPassword(pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(pw)) == nil
}

// dummyHash is compared against for an unknown user, so that an unknown name takes as long as a
// wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not-a-password"), bcryptCost)

// Dir is the issuer's folder: users.json and the signing key. Every change is a read, a change
// and an atomic rename under a lock file, so the local host and `dcrm user` can both change it.
type Dir string

func (d Dir) usersPath() string { return filepath.Join(string(d), UsersFileName) }

// Load reads the pool, making it (with new pool and client ids) if the folder has none.
func (d Dir) Load() (Pool, error) {
	var p Pool
	err := d.Update(func(pool *Pool) error { p = *pool; return nil })
	return p, err
}

// Update runs change on the pool and writes what it leaves, under the folder's lock; a change that
// returns an error writes nothing.
func (d Dir) Update(change func(*Pool) error) error {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", d, err)
	}
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	p, err := d.read()
	if err != nil {
		return err
	}
	before, _ := json.Marshal(p)
	if err := change(&p); err != nil {
		return err
	}
	after, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("encode users: %w", err)
	}
	if compact, _ := json.Marshal(p); string(compact) == string(before) && p.ID != "" {
		if _, err := os.Stat(d.usersPath()); err == nil {
			return nil // unchanged
		}
	}
	tmp := d.usersPath() + ".tmp"
	if err := os.WriteFile(tmp, append(after, '\n'), 0o600); err != nil {
		return fmt.Errorf("write users: %w", err)
	}
	if err := os.Rename(tmp, d.usersPath()); err != nil {
		return fmt.Errorf("move users into place: %w", err)
	}
	return nil
}

// read reads users.json; a missing file is a new pool.
func (d Dir) read() (Pool, error) {
	var p Pool
	raw, err := os.ReadFile(d.usersPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
		p.ID, p.ClientID = newPoolID(), newClientID()
		return p, nil
	case err != nil:
		return p, fmt.Errorf("read users: %w", err)
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, fmt.Errorf("read %s: %w", d.usersPath(), err)
	}
	if p.ID == "" || p.ClientID == "" {
		return p, fmt.Errorf("read %s: no poolId or clientId", d.usersPath())
	}
	return p, nil
}

// lockStale is how old a lock file may get before it is taken as left by a crashed process.
const lockStale = 10 * time.Second

func (d Dir) lock() (unlock func(), err error) {
	path := filepath.Join(string(d), UsersFileName+".lock")
	deadline := time.Now().Add(2 * lockStale)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("lock users: %w", err)
		}
		if info, err := os.Stat(path); err == nil && time.Since(info.ModTime()) > lockStale {
			os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("lock users: %s is held", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// AddUser adds a user in the groups with password; temporary makes them choose their own at the
// first sign-in (FORCE_CHANGE_PASSWORD), as Cognito's AdminCreateUser does.
func (d Dir) AddUser(username, email string, groups []string, password string, temporary bool, now time.Time) (User, error) {
	if err := CheckUsername(username); err != nil {
		return User{}, err
	}
	if err := validGroups(groups); err != nil {
		return User{}, err
	}
	if err := CheckPassword(password); err != nil {
		return User{}, err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return User{}, err
	}
	u := User{Username: strings.ToLower(username), Sub: newUUID(), Email: email, Groups: slices.Clone(groups),
		Status: StatusConfirmed, PasswordHash: hash, Created: now.UTC(), Updated: now.UTC()}
	if temporary {
		u.Status = StatusForceChangePassword
	}
	err = d.Update(func(p *Pool) error {
		if _, ok := p.Find(username); ok {
			return fmt.Errorf("%w: %s", ErrUserExists, u.Username)
		}
		p.Users = append(p.Users, u)
		return nil
	})
	return u, err
}

// SetPassword sets a user's password, permanent (CONFIRMED) or temporary, as AdminSetUserPassword
// does.
func (d Dir) SetPassword(username, password string, temporary bool, now time.Time) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	return d.Update(func(p *Pool) error {
		u, ok := p.Find(username)
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoSuchUser, username)
		}
		u.PasswordHash, u.Updated, u.Status = hash, now.UTC(), StatusConfirmed
		if temporary {
			u.Status = StatusForceChangePassword
		}
		return nil
	})
}

// RemoveUser removes a user: their refresh tokens stop working at once, their ID and access tokens
// when they expire (as in Cognito).
func (d Dir) RemoveUser(username string) error {
	return d.Update(func(p *Pool) error {
		for i, u := range p.Users {
			if u.Username == strings.ToLower(username) {
				p.Users = slices.Delete(p.Users, i, i+1)
				return nil
			}
		}
		return fmt.Errorf("%w: %s", ErrNoSuchUser, username)
	})
}

// Issuer is the pool's issuer URL when its server listens at base (http://127.0.0.1:PORT).
func (p Pool) Issuer(base string) string { return strings.TrimSuffix(base, "/") + "/" + p.ID }

// newPoolID makes an id shaped like Cognito's: <region>_<9 letters and digits>.
func newPoolID() string {
	return localaws.Region + "_" + randomString(9, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
}

// newClientID makes an app client id shaped like Cognito's: 26 lower-case letters and digits.
func newClientID() string { return randomString(26, "abcdefghijklmnopqrstuvwxyz0123456789") }

func randomString(n int, set string) string {
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		b[i] = set[k.Int64()]
	}
	return string(b)
}

// newUUID is a random (version 4) UUID, as Cognito's sub.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// validGroups checks that every group is a role.
func validGroups(groups []string) error {
	for _, g := range groups {
		if _, ok := consoleauth.ParseRole(g); !ok {
			return fmt.Errorf("unknown group %q: want viewer, marketer, operator or admin", g)
		}
	}
	return nil
}
