package skv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Sha256 is the SHA-256 of the call's answer body in lower-case hex, the
// name its evidence is kept under; "" when no complete answer came.
func (c Call) Sha256() string {
	if c.Body == nil {
		return ""
	}
	return Sha256(c.Body)
}

// Sha256 is the SHA-256 of b in lower-case hex.
func Sha256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Decode decodes a kept answer body of op as the client does: the result
// is a Saldo, Transaktioner, Utbetalningskonto or Utbetalningssparrar. It
// lets an answer kept as received be read again later.
func Decode(op Operation, body []byte) (any, error) {
	var (
		v   any
		err error
	)
	switch op {
	case OpSaldo:
		v, _, err = decodeSaldo(body)
	case OpTransaktioner:
		v, _, err = decodeTransaktioner(body)
	case OpUtbetalningskonto:
		v, _, err = decodeUtbetalningskonto(body)
	case OpUtbetalningssparrar:
		v, _, err = decodeUtbetalningssparrar(body)
	default:
		return nil, wrapf(op, "%w: unknown operation", ErrInvalidArgument)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s answer: %w", op, err)
	}
	return v, nil
}
