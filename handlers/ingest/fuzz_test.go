package ingest

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzReader feeds arbitrary bytes to both CSV layouts. Goal: no input panics, and every
// refusal is a *RowError naming a row at or after the header — what the importer reports to
// the user (Reliability issue, item 7: CSV rows). The seeds are the malformed cases of
// TestImportRefusesBadRows' kinds plus a valid row of each layout.
func FuzzReader(f *testing.F) {
	f.Add("generic", genericHeader+"ACME,Acme SAS,FR,EUR,F1,F-1,2026-01-05,2026-02-04,1250.00,2026-02-10,,no\n")
	f.Add("generic", genericHeader+"ACME,\"Ac\"me\",FR,EUR,F2\n")
	f.Add("generic", "\xEF\xBB\xBF"+strings.ReplaceAll(genericHeader, "\n", "\r\n")+"A,\"x\r\ny\",FR,EUR,F,F,2026-01-01,2026-01-02,1.005,,,maybe\r\n")
	f.Add("ibm-ar", "countryCode,customerID,invoiceNumber,InvoiceDate,DueDate,InvoiceAmount,Disputed,SettledDate\n391,0379-NEVHP,0000611365,1/2/2013,2/1/2013,55.94,No,1/15/2013\n")
	f.Add("ibm-ar", "countryCode,customerID,invoiceNumber,InvoiceDate,DueDate,InvoiceAmount,Disputed,SettledDate\n999,\xff,0,13/45/2013,,99999999999999999999.99,Maybe,\n")
	f.Fuzz(func(t *testing.T, format, body string) {
		fm, ok := Formats[format]
		if !ok {
			return
		}
		r, err := NewReader(strings.NewReader(body), fm)
		if err != nil {
			var re *RowError
			if !errors.As(err, &re) || re.Row < 1 {
				t.Fatalf("header refusal %v (%T): want a *RowError naming row >= 1", err, err)
			}
			return
		}
		for range 10_000 { // bounded: a fuzz input has far fewer rows
			recs, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				var re *RowError
				if !errors.As(err, &re) || re.Row < 2 {
					t.Fatalf("row refusal %v (%T): want a *RowError naming row >= 2", err, err)
				}
				continue
			}
			for _, rec := range recs {
				if rec.Command == nil || rec.Key == "" || rec.Row < 2 {
					t.Fatalf("record %+v: want a command, a key and a row >= 2", rec)
				}
			}
		}
	})
}
