package domain

import (
	"bytes"
	"encoding/json"
)

// SecretField names the data field of an event that holds a secret (a webhook subscription's
// HMAC key in AlertSubscriptionCreated). The log keeps it, because the service needs it after
// a restart, but no read of the log shows it: RedactSecrets replaces it.
const SecretField = "secret"

// Redacted is what a secret reads as.
const Redacted = "[redacted]"

var secretKey = []byte(`"` + SecretField + `"`)

// RedactSecrets returns e with a non-empty top-level SecretField of its data replaced by
// Redacted, the other bytes as they are; e itself is not changed. Its Hash still covers the
// stored bytes, so a redacted event's hash cannot be recomputed from what a reader sees (the
// store's own verification reads the stored bytes).
func RedactSecrets(e Envelope) Envelope {
	r, _ := RedactSecretsFound(e)
	return r
}

// RedactSecretsFound is RedactSecrets that also says whether a secret was replaced.
func RedactSecretsFound(e Envelope) (Envelope, bool) {
	if !bytes.Contains(e.Data, secretKey) {
		return e, false
	}
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return e, false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return e, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return e, false
		}
		if key != SecretField || len(v) <= 2 || v[0] != '"' {
			continue
		}
		end := int(dec.InputOffset())
		start := end - len(v)
		data := make([]byte, 0, len(e.Data))
		data = append(data, e.Data[:start]...)
		data = append(data, `"`+Redacted+`"`...)
		e.Data = append(data, e.Data[end:]...)
		return e, true
	}
	return e, false
}

// SecretRedacted reports whether e's data holds a top-level SecretField that reads Redacted:
// an event as RedactSecrets gives it to readers and to the encours.events topic, whose data
// is no longer the bytes its Hash covers. A real secret is never Redacted: secrets are at
// least 16 bytes.
func SecretRedacted(e Envelope) bool {
	if !bytes.Contains(e.Data, secretKey) {
		return false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(e.Data, &fields); err != nil {
		return false
	}
	return string(fields[SecretField]) == `"`+Redacted+`"`
}
