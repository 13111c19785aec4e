import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { readCsv } from './csv.js';

interface Read {
  records: [number, string[]][];
  problems: [number, string][];
}

function read(text: string): Read {
  const out: Read = { records: [], problems: [] };
  readCsv(
    text,
    (fields, line) => out.records.push([line, fields]),
    (line, message) => out.problems.push([line, message]),
  );
  return out;
}

describe('readCsv', () => {
  test('splits lines on commas and keeps empty fields', () => {
    expect(read('a,b,c\n1,,3\n,,\n')).toEqual({
      records: [
        [1, ['a', 'b', 'c']],
        [2, ['1', '', '3']],
        [3, ['', '', '']],
      ],
      problems: [],
    });
  });

  test('reads quoted fields with commas, doubled quotes and newlines, counting lines from where records start', () => {
    expect(read('id,note\n"a,1","say ""hi"""\n"b","two\nlines"\nc,x\n')).toEqual({
      records: [
        [1, ['id', 'note']],
        [2, ['a,1', 'say "hi"']],
        [3, ['b', 'two\nlines']],
        [5, ['c', 'x']],
      ],
      problems: [],
    });
  });

  test('tolerates CRLF line ends, a byte-order mark and empty lines at the end', () => {
    expect(read('\uFEFFa,b\r\n1,"2"\r\n"x\r\ny",3\r\n\r\n\n')).toEqual({
      records: [
        [1, ['a', 'b']],
        [2, ['1', '2']],
        [3, ['x\r\ny', '3']],
      ],
      problems: [],
    });
  });

  test('an empty line in the middle is a record with one empty field', () => {
    expect(read('a\n\nb').records).toEqual([
      [1, ['a']],
      [2, ['']],
      [3, ['b']],
    ]);
  });

  test('reports a broken record instead of passing it on, and goes on at the next line', () => {
    expect(read('a,b\n"x"y,1\nok,1\nx,y"z\nok,2\n"never closed,1\nz,9\n')).toEqual({
      records: [
        [1, ['a', 'b']],
        [3, ['ok', '1']],
        [5, ['ok', '2']],
      ],
      problems: [
        [2, 'field 1: text after the closing quote; put the whole field inside the quotes'],
        [4, 'field 2: a quote inside an unquoted field; wrap the field in quotes and double the quote ("")'],
        [6, 'field 1: the quote that opens it is never closed; close it with "'],
      ],
    });
  });

  test('reads back any table written with RFC 4180 quoting, with LF or CRLF line ends', () => {
    const cell = fc.string({ unit: fc.constantFrom('a', 'b', ' ', ',', '"', '\n', '\r', 'é') });
    const table = fc.array(fc.array(cell, { minLength: 2, maxLength: 4 }), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(table, fc.boolean(), fc.boolean(), (rows, crlf, quoteAll) => {
        const quote = (value: string): string =>
          quoteAll || /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
        const newline = crlf ? '\r\n' : '\n';
        const text = rows.map((row) => row.map(quote).join(',')).join(newline) + newline;
        const result = read(text);
        expect(result.problems).toEqual([]);
        expect(result.records.map(([, fields]) => fields)).toEqual(rows);
      }),
    );
  });
});
