package stir

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"strconv"
)

// oidTNAuthList is the object identifier of the TN Authorization List
// certificate extension, id-pe-TNAuthList (RFC 8226 §9).
var oidTNAuthList = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 26}

// maxTNAuthEntries bounds the entries read from one extension.
const maxTNAuthEntries = 1024

// TNAuthList is the content of the TN Authorization List extension of an STI
// certificate (RFC 8226 §9): the service provider codes, number ranges and
// single numbers the certificate's holder may sign for. SHAKEN certificates
// carry a single SPC (ATIS-1000080).
type TNAuthList struct {
	// SPCs are the service provider codes (OCN in North America).
	SPCs []string
	// Ranges are blocks of telephone numbers.
	Ranges []TNRange
	// TNs are single telephone numbers.
	TNs []string
}

// TNRange is a block of Count consecutive numbers starting at Start, all of
// the same length.
type TNRange struct {
	// Start is the first number of the block.
	Start string
	// Count is the number of numbers in the block.
	Count int
}

// ParseTNAuthList decodes the DER value of a TNAuthList extension:
//
//	TNAuthorizationList ::= SEQUENCE SIZE (1..MAX) OF TNEntry
//	TNEntry ::= CHOICE { spc [0] ServiceProviderCode,
//	                     range [1] TelephoneNumberRange,
//	                     one [2] TelephoneNumber }
//
// The RFC 8226 module uses explicit tags; implicitly tagged entries, which
// some CAs issue, are read as well.
func ParseTNAuthList(der []byte) (*TNAuthList, error) {
	var entries []asn1.RawValue
	rest, err := asn1.Unmarshal(der, &entries)
	if err != nil {
		return nil, fmt.Errorf("stir: TNAuthList: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("stir: TNAuthList: trailing data")
	}
	if len(entries) == 0 {
		return nil, errors.New("stir: TNAuthList: empty")
	}
	if len(entries) > maxTNAuthEntries {
		return nil, errors.New("stir: TNAuthList: too many entries")
	}
	l := &TNAuthList{}
	for _, e := range entries {
		if e.Class != asn1.ClassContextSpecific {
			return nil, fmt.Errorf("stir: TNAuthList: unexpected entry class %d", e.Class)
		}
		switch e.Tag {
		case 0:
			s, err := taggedIA5(e)
			if err != nil {
				return nil, fmt.Errorf("stir: TNAuthList spc: %w", err)
			}
			l.SPCs = append(l.SPCs, s)
		case 1:
			r, err := taggedRange(e)
			if err != nil {
				return nil, fmt.Errorf("stir: TNAuthList range: %w", err)
			}
			l.Ranges = append(l.Ranges, r)
		case 2:
			s, err := taggedIA5(e)
			if err != nil {
				return nil, fmt.Errorf("stir: TNAuthList one: %w", err)
			}
			if !validTN(s) {
				return nil, fmt.Errorf("stir: TNAuthList one: %q is not a telephone number", s)
			}
			l.TNs = append(l.TNs, s)
		default:
			return nil, fmt.Errorf("stir: TNAuthList: unknown entry [%d]", e.Tag)
		}
	}
	return l, nil
}

// taggedIA5 reads [n] EXPLICIT IA5String, or [n] IMPLICIT IA5String.
func taggedIA5(e asn1.RawValue) (string, error) {
	if e.IsCompound {
		var s string
		rest, err := asn1.UnmarshalWithParams(e.Bytes, &s, "ia5")
		if err != nil {
			return "", err
		}
		if len(rest) != 0 {
			return "", errors.New("trailing data")
		}
		return s, nil
	}
	for _, c := range e.Bytes {
		if c >= 0x80 {
			return "", errors.New("not an IA5String")
		}
	}
	return string(e.Bytes), nil
}

type tnRangeASN1 struct {
	Start string `asn1:"ia5"`
	Count int
}

// taggedRange reads [1] EXPLICIT SEQUENCE {start, count} or its implicit form.
func taggedRange(e asn1.RawValue) (TNRange, error) {
	if !e.IsCompound {
		return TNRange{}, errors.New("not a sequence")
	}
	var r tnRangeASN1
	rest, err := asn1.Unmarshal(e.Bytes, &r)
	if err != nil {
		// Implicit tagging: the tag replaced the SEQUENCE, so e.Bytes holds
		// its members.
		seq := asn1.RawValue{Tag: asn1.TagSequence, Class: asn1.ClassUniversal, IsCompound: true, Bytes: e.Bytes}
		full, merr := asn1.Marshal(seq)
		if merr != nil {
			return TNRange{}, err
		}
		if rest, err = asn1.Unmarshal(full, &r); err != nil {
			return TNRange{}, err
		}
	}
	if len(rest) != 0 {
		return TNRange{}, errors.New("trailing data")
	}
	if !validTN(r.Start) || r.Count < 1 {
		return TNRange{}, fmt.Errorf("invalid range %q+%d", r.Start, r.Count)
	}
	return TNRange(r), nil
}

// validTN checks RFC 8226's TelephoneNumber: 1 to 15 of "0123456789#*".
func validTN(s string) bool {
	if len(s) == 0 || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '#' && c != '*' {
			return false
		}
	}
	return true
}

// Covers reports whether the list names tn (canonical form) as a single
// number or within a range. Service provider codes cover numbers through
// records this package cannot see, so they do not count here.
func (l *TNAuthList) Covers(tn string) bool {
	for _, t := range l.TNs {
		if t == tn {
			return true
		}
	}
	n, err := strconv.ParseUint(tn, 10, 64)
	if err != nil {
		return false
	}
	for _, r := range l.Ranges {
		if len(r.Start) != len(tn) {
			continue
		}
		start, err := strconv.ParseUint(r.Start, 10, 64)
		if err != nil {
			continue
		}
		if n >= start && n-start < uint64(r.Count) {
			return true
		}
	}
	return false
}

// tnAuthListOf returns the parsed TNAuthList extension of cert, nil when the
// certificate has none, and an error when it has one that does not parse.
func tnAuthListOf(cert *x509.Certificate) (*TNAuthList, error) {
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(oidTNAuthList) {
			return ParseTNAuthList(ext.Value)
		}
	}
	return nil, nil
}
