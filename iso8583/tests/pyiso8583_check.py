"""The other side of iso8583/tests/pyiso8583.rs: pyiso8583 (PyPI), an
ISO 8583 codec written by others, driven by the same dialect table.

Reads JSON from stdin: {"dialect": path, "cases": [{"mti", "fields": {n:
text}, "ours": hex of our encoding}]}. For each case, decodes our bytes
with pyiso8583 and encodes the case's fields with it. Writes JSON to
stdout: [{"decoded": {"t": mti, n: text}, "theirs": hex}] or
{"error": ...}. Binary fields travel as upper-case hex text; in the
binary dialect, the z field's separator "=" as its BCD nibble, "D".
"""
import json
import sys

import iso8583


def spec_of(dialect):
    if dialect["mti"] == "ascii":
        return ascii_spec(dialect)
    return packed_spec(dialect)


def ascii_spec(dialect):
    # pyiso8583 writes ASCII with hex bitmaps as its default_ascii does.
    assert dialect["mti"] == "ascii" and dialect["bitmap"] == "hex"
    assert dialect["numeric"] == "ascii" and dialect["length_prefix"] == "ascii"
    assert dialect["binary"] == "hex"
    spec = {
        "h": {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 0, "desc": "header"},
        "t": {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 4, "desc": "MTI"},
        "p": {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 16, "desc": "primary bitmap"},
        "1": {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 16, "desc": "secondary bitmap"},
    }
    for n, f in dialect["fields"].items():
        width = f["max"] * (2 if f["class"] == "b" else 1) + (1 if f["class"] == "xn" else 0)
        len_type = {"fixed": 0, "LLVAR": 2, "LLLVAR": 3}[f["length"]]
        if len_type and f["class"] == "xn":
            raise SystemExit("variable x+n fields are not in the 1987 table")
        spec[n] = {"data_enc": "ascii", "len_enc": "ascii", "len_type": len_type,
                   "max_len": width, "desc": f["name"]}
    return spec


def packed_spec(dialect):
    # The binary dialect in pyiso8583's terms: the MTI and the bitmaps as
    # raw bytes ("b"), numerics (n, z) as BCD nibbles padded on the left
    # with a zero, LL/LLL lengths as BCD (one and two bytes), text as
    # ASCII, b fields raw. x+n (a letter, then BCD) has no pyiso8583 form:
    # the Rust side leaves those fields out of these cases.
    assert dialect["mti"] == "bcd" and dialect["bitmap"] == "binary"
    assert dialect["numeric"] == "bcd" and dialect["length_prefix"] == "bcd"
    assert dialect["binary"] == "raw"
    spec = {
        "h": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 0, "desc": "header"},
        "t": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 2, "desc": "MTI"},
        "p": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8, "desc": "primary bitmap"},
        "1": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8, "desc": "secondary bitmap"},
    }
    for n, f in dialect["fields"].items():
        if f["class"] == "xn":
            continue
        len_type = {"fixed": 0, "LLVAR": 1, "LLLVAR": 2}[f["length"]]
        field = {"len_enc": "bcd", "len_type": len_type, "max_len": f["max"], "desc": f["name"]}
        if f["class"] in ("n", "z"):
            field.update(data_enc="b", len_count="nibbles", left_pad="0")
        elif f["class"] == "b":
            field.update(data_enc="b", len_count="bytes")
        else:
            field.update(data_enc="ascii", len_count="bytes")
        spec[n] = field
    return spec


def main():
    request = json.load(sys.stdin)
    with open(request["dialect"]) as f:
        spec = spec_of(json.load(f))
    out = []
    for case in request["cases"]:
        try:
            decoded, _ = iso8583.decode(bytearray.fromhex(case["ours"]), spec)
            fields = {k: v for k, v in decoded.items() if k not in ("p", "1")}
            doc = {"t": case["mti"]}
            doc.update(case["fields"])
            raw, _ = iso8583.encode(doc, spec)
            out.append({"decoded": fields, "theirs": bytes(raw).hex().upper()})
        except Exception as e:  # reported, so the Rust side names the case
            out.append({"error": f"{type(e).__name__}: {e}"})
    json.dump(out, sys.stdout)


main()
