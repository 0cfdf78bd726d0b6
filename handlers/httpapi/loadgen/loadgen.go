// Package loadgen is the HTTP client of the API's load benchmarks (`encours bench`,
// handlers/httpapi's BenchmarkPostInvoice64): one keep-alive HTTP/1.1 connection per
// simulated client, each sending one request at a time and reading the whole answer.
//
// It exists because the benchmarks run the clients and the server on the same cores: a
// general-purpose client (net/http's, ~40 µs of CPU per request here) would take half of the
// machine from the server it measures. This one writes each request with one system call from
// a reused buffer and parses only what an answer needs (status line, Content-Length or
// chunked framing, Connection: close), so nearly all the CPU goes to the server. It speaks to
// any HTTP/1.1 server; it is not a general client (no redirects, TLS, proxies or
// compression).
package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// Conn is one client's connection. It is not safe for concurrent use: a client sends one
// request at a time.
type Conn struct {
	addr    string
	headers []byte // "Header: value\r\n" lines sent with every request
	timeout time.Duration

	c   net.Conn
	r   *bufio.Reader
	req []byte // the request being written, reused
	res []byte // the last answer's body, reused
}

// Dial returns a client of the server at addr (host:port) that sends headers (name, value
// pairs) with every request and gives each request timeout to be answered. It connects at the
// first request, and again after the server closes the connection.
func Dial(addr string, timeout time.Duration, headers ...string) (*Conn, error) {
	if len(headers)%2 != 0 {
		return nil, errors.New("loadgen: headers come in name, value pairs")
	}
	var h []byte
	for i := 0; i < len(headers); i += 2 {
		h = append(h, headers[i]...)
		h = append(h, ": "...)
		h = append(h, headers[i+1]...)
		h = append(h, "\r\n"...)
	}
	return &Conn{addr: addr, headers: h, timeout: timeout}, nil
}

// Close closes the connection.
func (c *Conn) Close() error {
	if c.c == nil {
		return nil
	}
	err := c.c.Close()
	c.c, c.r = nil, nil
	return err
}

// Post sends POST path with body (application/json) and, unless empty, an Idempotency-Key,
// and returns the answer's status and body. The body is valid until the next call.
func (c *Conn) Post(path, idempotencyKey string, body []byte) (int, []byte, error) {
	b := append(c.req[:0], "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.addr...)
	b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n"...)
	if idempotencyKey != "" {
		b = append(b, "Idempotency-Key: "...)
		b = append(b, idempotencyKey...)
		b = append(b, "\r\n"...)
	}
	b = append(b, c.headers...)
	b = append(b, "\r\n"...)
	b = append(b, body...)
	c.req = b
	return c.roundTrip()
}

func (c *Conn) roundTrip() (int, []byte, error) {
	if c.c == nil {
		conn, err := net.DialTimeout("tcp", c.addr, c.timeout)
		if err != nil {
			return 0, nil, err
		}
		c.c, c.r = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	if c.timeout > 0 {
		if err := c.c.SetDeadline(time.Now().Add(c.timeout)); err != nil {
			return 0, nil, err
		}
	}
	if _, err := c.c.Write(c.req); err != nil {
		c.Close()
		return 0, nil, err
	}
	status, body, keep, err := c.readResponse()
	if err != nil || !keep {
		c.Close()
	}
	return status, body, err
}

// readResponse reads one answer: its status, its body, and whether the connection stays
// open.
func (c *Conn) readResponse() (status int, body []byte, keep bool, err error) {
	line, err := c.line()
	if err != nil {
		return 0, nil, false, fmt.Errorf("read status line: %w", err)
	}
	// "HTTP/1.1 201 Created"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, nil, false, fmt.Errorf("malformed status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, false, fmt.Errorf("malformed status line %q", line)
	}
	keep = line[7] == '1' // HTTP/1.1 keeps the connection unless told otherwise
	length, chunked := -1, false
	for {
		h, err := c.line()
		if err != nil {
			return 0, nil, false, fmt.Errorf("read header: %w", err)
		}
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, nil, false, fmt.Errorf("malformed header %q", h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 {
				return 0, nil, false, fmt.Errorf("malformed Content-Length %q", value)
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
			if !chunked {
				return 0, nil, false, fmt.Errorf("unsupported Transfer-Encoding %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			}
		}
	}
	switch {
	case chunked:
		body, err = c.chunks()
	case length >= 0:
		body, err = c.read(c.res[:0], length)
	default: // no framing: the body runs to the end of the connection
		var buf bytes.Buffer
		_, err = buf.ReadFrom(c.r)
		body, keep = buf.Bytes(), false
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("read body: %w", err)
	}
	c.res = body
	return status, body, keep, nil
}

// line reads one CRLF-terminated line, without its end; it aliases the reader's buffer.
func (c *Conn) line() ([]byte, error) {
	l, err := c.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(l[:len(l)-1], []byte("\r")), nil
}

// read appends the next n bytes to dst.
func (c *Conn) read(dst []byte, n int) ([]byte, error) {
	start := len(dst)
	if cap(dst)-start < n {
		dst = append(dst, make([]byte, n)...)
	} else {
		dst = dst[:start+n]
	}
	_, err := io.ReadFull(c.r, dst[start:])
	return dst, err
}

// chunks reads a chunked body.
func (c *Conn) chunks() ([]byte, error) {
	body := c.res[:0]
	for {
		l, err := c.line()
		if err != nil {
			return nil, err
		}
		size, _, _ := bytes.Cut(l, []byte(";"))
		n, err := strconv.ParseUint(string(bytes.TrimSpace(size)), 16, 31)
		if err != nil {
			return nil, fmt.Errorf("malformed chunk size %q", l)
		}
		if n == 0 {
			for { // trailers, up to the blank line
				t, err := c.line()
				if err != nil {
					return nil, err
				}
				if len(t) == 0 {
					return body, nil
				}
			}
		}
		if body, err = c.read(body, int(n)); err != nil {
			return nil, err
		}
		if l, err := c.line(); err != nil || len(l) != 0 {
			return nil, fmt.Errorf("chunk not followed by CRLF")
		}
	}
}
