package diameter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// HeaderLength is the length of the Diameter header (RFC 6733 §3).
const HeaderLength = 20

// DefaultMaxMessageSize is the default limit on one message (header
// included). The wire format allows 16 MiB; no IMS message comes close.
const DefaultMaxMessageSize = 1 << 20

// maxGroupDepth bounds the nesting of Grouped AVPs that Decode accepts.
const maxGroupDepth = 16

// ErrMalformed is the sentinel that every decoding failure wraps.
var ErrMalformed = errors.New("diameter: malformed message")

// DecodeError describes a message that could not be decoded. When Header is
// not nil the framing was sound: the message can be answered with
// ResultCode (RFC 6733 §7.2) and the connection kept. A nil Header means
// the byte stream itself is broken and the connection must be closed.
type DecodeError struct {
	Header     *diam.Header // the parsed header, or nil
	ResultCode uint32       // the Result-Code an answer should carry
	Reason     string
}

// Error describes the decoding failure.
func (e *DecodeError) Error() string {
	return "diameter: malformed message: " + e.Reason
}

// Unwrap makes errors.Is(err, ErrMalformed) true.
func (e *DecodeError) Unwrap() error { return ErrMalformed }

// ReadMessage reads one message from r and decodes it with d. It reads
// exactly the bytes of one message, so a *DecodeError with a non-nil Header
// leaves r positioned at the next message. maxSize <= 0 means
// DefaultMaxMessageSize. It never panics, whatever r yields.
func ReadMessage(r io.Reader, d *dict.Parser, maxSize int) (*Message, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	var hb [HeaderLength]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return nil, err
	}
	n, err := frameLength(hb[:], maxSize)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	copy(b, hb[:])
	if _, err := io.ReadFull(r, b[HeaderLength:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("diameter: read message body: %w", err)
	}
	return Decode(b, d)
}

// frameLength validates the fixed part of a header (RFC 6733 §3) and
// returns the message length.
func frameLength(h []byte, maxSize int) (int, error) {
	if h[0] != 1 {
		return 0, &DecodeError{ResultCode: UnsupportedVersion, Reason: fmt.Sprintf("version %d", h[0])}
	}
	n := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	if n < HeaderLength || n%4 != 0 {
		return 0, &DecodeError{ResultCode: InvalidMessageLength, Reason: fmt.Sprintf("message length %d", n)}
	}
	if n > maxSize {
		return 0, &DecodeError{ResultCode: InvalidMessageLength, Reason: fmt.Sprintf("message length %d over limit %d", n, maxSize)}
	}
	return n, nil
}

// Decode decodes one complete message. It checks the header and the AVP
// structure, nested groups included, against d before handing the bytes to
// go-diameter, and recovers from any panic in go-diameter's decoder
// (DESIGN.md §5: diam.ReadMessage can panic on a malformed grouped AVP).
// Unknown AVPs and unknown commands are kept (as undecoded data), so a
// relay can forward them. Decode never panics.
func Decode(b []byte, d *dict.Parser) (m *Message, err error) {
	if len(b) < HeaderLength {
		return nil, &DecodeError{ResultCode: InvalidMessageLength, Reason: "short header"}
	}
	if _, err := frameLength(b, len(b)); err != nil {
		return nil, err
	}
	if int(binary.BigEndian.Uint32(b[0:4])&0xffffff) != len(b) {
		return nil, &DecodeError{ResultCode: InvalidMessageLength, Reason: "length does not match the data"}
	}
	hdr, herr := diam.DecodeHeader(b[:HeaderLength])
	if herr != nil {
		return nil, &DecodeError{ResultCode: InvalidMessageLength, Reason: herr.Error()}
	}
	fail := func(code uint32, format string, args ...any) (*Message, error) {
		return nil, &DecodeError{Header: hdr, ResultCode: code, Reason: fmt.Sprintf(format, args...)}
	}
	// RFC 6733 §3: the E bit must not be set in requests; reserved bits are 0.
	if hdr.CommandFlags&FlagRequest != 0 && hdr.CommandFlags&FlagError != 0 {
		return fail(InvalidHdrBits, "E bit set in a request")
	}
	if hdr.CommandFlags&0x0f != 0 {
		return fail(InvalidHdrBits, "reserved command flags set")
	}
	body := b[HeaderLength:]
	if err := checkAVPs(body, hdr.ApplicationID, d, 0); err != nil {
		return fail(InvalidAVPLength, "%v", err)
	}
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, &DecodeError{Header: hdr, ResultCode: InvalidAVPValue, Reason: fmt.Sprintf("decoder panic: %v", r)}
		}
	}()
	m = diam.NewMessage(hdr.CommandCode, hdr.CommandFlags, hdr.ApplicationID, hdr.HopByHopID, hdr.EndToEndID, d)
	for off := 0; off < len(body); {
		a, derr := diam.DecodeAVP(body[off:], hdr.ApplicationID, d)
		if derr != nil {
			return fail(InvalidAVPValue, "AVP %d: %v", a.Code, derr)
		}
		m.AVP = append(m.AVP, a)
		// checkAVPs vouched for the wire length; step by it, not by what
		// go-diameter re-computes from the decoded value.
		l := int(body[off+5])<<16 | int(body[off+6])<<8 | int(body[off+7])
		off += (l + 3) &^ 3
	}
	m.Header.MessageLength = uint32(len(b))
	return m, nil
}

// checkAVPs walks the AVP headers of b, recursing into the AVPs that d
// declares Grouped, and reports the first structural error: a length field
// below the header size or beyond the data, or nesting deeper than
// maxGroupDepth (RFC 6733 §4.1, §4.4).
func checkAVPs(b []byte, app uint32, d *dict.Parser, depth int) error {
	if depth > maxGroupDepth {
		return fmt.Errorf("grouped AVPs nested deeper than %d", maxGroupDepth)
	}
	for off := 0; off < len(b); {
		rest := b[off:]
		if len(rest) < 8 {
			return fmt.Errorf("truncated AVP header at offset %d", off)
		}
		code := binary.BigEndian.Uint32(rest[0:4])
		flags := rest[4]
		l := int(rest[5])<<16 | int(rest[6])<<8 | int(rest[7])
		hl, vendor := 8, uint32(0)
		if flags&0x80 != 0 {
			hl = 12
			if len(rest) < 12 {
				return fmt.Errorf("AVP %d: truncated vendor header", code)
			}
			vendor = binary.BigEndian.Uint32(rest[8:12])
		}
		if l < hl {
			return fmt.Errorf("AVP %d: length %d below header size %d", code, l, hl)
		}
		if l > len(rest) {
			return fmt.Errorf("AVP %d: length %d beyond the %d bytes left", code, l, len(rest))
		}
		padded := (l + 3) &^ 3
		if padded > len(rest) {
			// The last AVP's padding is missing: only tolerable when the
			// message itself ends there, which frameLength rules out.
			return fmt.Errorf("AVP %d: padding beyond the data", code)
		}
		if da, err := d.FindAVPByCode(app, code, vendor); err == nil {
			switch size := fixedSize(da.Data.Type); {
			case da.Data.Type == datatype.GroupedType:
				if err := checkAVPs(rest[hl:l], app, d, depth+1); err != nil {
					return fmt.Errorf("AVP %d: %w", code, err)
				}
			case size > 0 && l-hl != size:
				// RFC 6733 §7.1.5 (5014): wrong length for the AVP's type.
				return fmt.Errorf("AVP %d: %d data bytes for a %d-byte type", code, l-hl, size)
			}
		}
		off += padded
	}
	return nil
}

// fixedSize returns the data length of fixed-size basic types (RFC 6733
// §4.2, §4.3.1), or 0.
func fixedSize(t datatype.TypeID) int {
	switch t {
	case datatype.Integer32Type, datatype.Unsigned32Type, datatype.Float32Type,
		datatype.EnumeratedType, datatype.TimeType:
		return 4
	case datatype.Integer64Type, datatype.Unsigned64Type, datatype.Float64Type:
		return 8
	}
	return 0
}
