package pii

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// Kind is the kind of personal data that the name of a JSON member announces.
type Kind uint8

// Kinds of personal data. Email values are hashed (an address is how profiles are joined, so it
// must stay comparable); the others are redacted (replaced by Redacted): nothing downstream joins
// on them, and a hash of a phone number, a name or a birth date is easily reversed by trying them
// all.
const (
	NotPersonal Kind = iota
	Email            // email, e_mail, emailAddress, workEmail, emails …
	Phone            // phone, phoneNumber, mobile, telephone, fax, msisdn …
	Name             // a person's name: firstName, last_name, surname …; "name" itself within traits only
	Address          // address, street, postalCode, zip, addressLine1 …; an address object keeps city and country
	Sensitive        // birthday, dateOfBirth, password, ssn, passport, iban, cardNumber, cvv …
	FreeText         // comment, notes, feedback, bio: whatever a person typed
	// Identifier is an identifier the sender chose (userId, anonymousId, previousId, groupId): kept
	// as sent, even when it looks like an address, because profiles are found by it.
	Identifier
)

func (k Kind) String() string {
	return [...]string{"not personal", "email", "phone", "name", "address", "sensitive", "free text", "identifier"}[k]
}

// Hashed tells whether values of kind k are hashed rather than redacted.
func (k Kind) Hashed() bool { return k == Email }

// The rules, on a member's name with case and everything but letters and digits removed
// ("E-Mail_Address" is "emailaddress"): a name is of a kind when it is one of its exact names, or
// ends with one of its suffixes (so "billing_first_name" is a name and "workEmail" an email, but
// "emailOptIn" and "hasEmail"'s true are not touched: only strings and numbers are hashed or
// redacted, never booleans or null).
var rules = []struct {
	kind     Kind
	exact    []string
	suffixes []string
}{
	{Identifier, []string{"userid", "anonymousid", "previousid", "groupid"}, nil},
	{Email, []string{"mail", "mailaddress"}, []string{"email", "emails", "emailaddress", "emailaddresses"}},
	{Phone, []string{"mobile", "cell", "tel", "fax"}, []string{"phone", "phones", "phonenumber", "phonenumbers", "phoneno",
		"telephonenumber", "mobilenumber", "cellnumber", "faxnumber", "msisdn"}},
	{Name, nil, []string{"firstname", "lastname", "fullname", "middlename", "surname", "givenname", "familyname", "maidenname"}},
	{Address, []string{"zip", "line1", "line2", "line3", "addressline1", "addressline2", "addressline3"},
		[]string{"address", "addresses", "street", "streetaddress", "postalcode", "postcode", "zipcode"}},
	{Sensitive, []string{"passport", "dob", "ssn"}, []string{"password", "passwd", "socialsecuritynumber", "nationalid",
		"nationalidnumber", "nationalinsurancenumber", "passportnumber", "taxid", "iban", "creditcard", "creditcardnumber",
		"cardnumber", "cvv", "cvc", "dateofbirth", "birthdate", "birthday"}},
	{FreeText, []string{"comment", "comments", "note", "notes", "freetext", "feedback", "bio", "biography"}, nil},
}

// personNames are names of a person's own name, within a person's traits only: elsewhere "name"
// is a product's, a page's or a library's.
var personNames = []string{"name", "nickname", "displayname", "initials"}

// Person scope: a member named "traits" holds a person's traits; one of these names, within
// them, holds an organisation's ("traits.company.name" is not a person's name).
const traitsName = "traits"

var organisationNames = []string{"company", "organization", "organisation", "account", "group"}

// Classify tells the kind of personal data a member named name holds; inTraits says whether the
// member is within a person's traits (see RedactJSON for where that is).
func Classify(name string, inTraits bool) Kind {
	var buf [maxKeyBytes]byte
	return classify(key(&buf, []byte(name)), inTraits)
}

// classify is Classify of a name already reduced by key.
func classify(k []byte, inTraits bool) Kind {
	if len(k) == 0 {
		return NotPersonal
	}
	// Only the names that end as k does can match it: the first of them in the rules' order wins.
	for _, p := range byLastByte[k[len(k)-1]] {
		if p.exact && bytes.Equal(k, p.name) || !p.exact && bytes.HasSuffix(k, p.name) {
			return p.kind
		}
	}
	if inTraits && matches(k, personNamesB, nil) {
		return Name
	}
	return NotPersonal
}

// pattern is one name of the rules: a key that is it (exact) or ends with it.
type pattern struct {
	kind  Kind
	name  []byte
	exact bool
}

// byLastByte holds the rules' names by their last byte, in the rules' order.
var byLastByte = func() (out [256][]pattern) {
	for _, r := range rules {
		for _, e := range r.exact {
			out[e[len(e)-1]] = append(out[e[len(e)-1]], pattern{r.kind, []byte(e), true})
		}
		for _, s := range r.suffixes {
			out[s[len(s)-1]] = append(out[s[len(s)-1]], pattern{r.kind, []byte(s), false})
		}
	}
	return out
}()

// The rules as bytes, so that names are matched without allocating.
var (
	personNamesB       = toBytes(personNames)
	organisationNamesB = toBytes(organisationNames)
	identityNames      = map[string]Kind{"email": Email, "emailaddress": Email, "phone": Phone, "phonenumber": Phone}
)

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func matches(k []byte, exact, suffixes [][]byte) bool {
	for _, e := range exact {
		if bytes.Equal(k, e) {
			return true
		}
	}
	for _, s := range suffixes {
		if bytes.HasSuffix(k, s) {
			return true
		}
	}
	return false
}

// maxKeyBytes bounds the part of a member's name that is classified (its end, where the
// suffixes are).
const maxKeyBytes = 64

// The full-width forms of ASCII's printable characters, and how far they are from them.
const (
	fullWidthFirst  = '\uff01'
	fullWidthLast   = '\uff5e'
	fullWidthOffset = fullWidthFirst - '!'
)

// key reduces a member's name to its letters and digits (full-width ones read as ASCII),
// lower-cased, in buf (its last
// maxKeyBytes bytes when longer).
func key(buf *[maxKeyBytes]byte, name []byte) []byte {
	k := buf[:0]
	for i := 0; i < len(name); {
		c := name[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
				k = append(k, c)
			case c >= 'A' && c <= 'Z':
				k = append(k, c+'a'-'A')
			}
			continue
		}
		r, size := utf8.DecodeRune(name[i:])
		i += size
		if r >= fullWidthFirst && r <= fullWidthLast {
			r -= fullWidthOffset // "ＥＭＡＩＬ" is "EMAIL", as NFKC reads it
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			k = utf8.AppendRune(k, unicode.ToLower(r))
		}
	}
	if len(k) > maxKeyBytes {
		k = k[len(k)-maxKeyBytes:]
	}
	return k
}

// Identity tells whether a member of a person's traits named name is the person's own email
// address (Email) or phone number (Phone), the ones a profile is joined by: names that are the
// word and nothing else, in any case and with any separators ("email", "Email", "E-Mail",
// "emailAddress", "phone", "Phone_Number"). A "workEmail" or "contact.email" is an email, hashed
// where it is, but not the identity. Any other name is NotPersonal.
func Identity(name string) Kind {
	var buf [maxKeyBytes]byte
	return identityNames[string(key(&buf, []byte(name)))]
}
