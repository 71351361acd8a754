#!/usr/bin/env python3
"""Writes the seed inputs of tests/fuzz/corpus/ (python3, standard library only).

Seeds are small valid (and a few nearly valid) inputs each fuzzer starts from;
crashes found later are added beside them by hand (crash-*), never by this
script. Run from anywhere; it rewrites only the seed-* files.

    python3 tests/fuzz/make_seeds.py
"""

import base64
import hashlib
import hmac
import json
import os
import struct
import zlib

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
ID = "123e4567-e89b-12d3-a456-426614174000"
OTHER_ID = "9b2f4c1e-0d3a-4e5f-8a6b-7c8d9e0f1a2b"
KEY = "5f0c2a9e-71d4-4b8c-9a6e-0123456789ab"
# token_fuzz.cc's kSecret and kNow.
SECRET = b"fuzz-secret-0123456789abcdefghijklmnopqrstuvwxyz"
NOW = 1700000000


def write(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(CORPUS, target, "seed-" + name), "wb") as f:
        f.write(data)


# --- rest_request: an HTTP/1.1 request as text --------------------------------
def request(method, target, headers=(), body=""):
    lines = [f"{method} {target}"] + [f"{k}: {v}" for k, v in headers]
    return "\r\n".join(lines) + "\r\n\r\n" + body


JSON = ("Content-Type", "application/json")
write("rest_request", "put_create", request(
    "PUT", f"/user/{ID}", [JSON, ("Idempotency-Key", KEY)],
    '{"name":"Ann","email":"ann@example.com"}'))
write("rest_request", "put_if_none_match", request(
    "PUT", f"/user/{ID}", [JSON, ("If-None-Match", "*")],
    '{"name":"Zoë","email":"zoe@exämple.com","avatar":"R0lGODlhAQABAAAAACw="}'))
write("rest_request", "patch_if_match", request(
    "PATCH", f"/user/{ID}", [("content-type", "Application/JSON; charset=utf-8"),
                             ("If-Match", '"7"')],
    '{"email":"josé@example.com","avatar":null}'))
write("rest_request", "put_get_body_back", request(
    "PUT", f"/user/{ID.upper()}", [JSON],
    json.dumps({"id": ID, "name": "Ann", "email": "a@b.io", "avatar": "iVBORw==",
                "avatarSha256": "ab12", "version": "4", "updatedAt": "2023-11-14T22:13:20Z"})))
write("rest_request", "put_refused", request(
    "PUT", f"/user/{ID}", [JSON, ("If-Match", 'W/"5"'), ("Idempotency-Key", "again"),
                           ("If-Match", '"6"')],
    '{"name":"A\\ud800nn","nickname":"A","version":"three"}'))
write("rest_request", "put_not_utf8", request(
    "PUT", f"/user/{ID}", [JSON], '{"name":"An\xffn","em\xffail":"a@b.io"}').encode("latin-1"))
# The handler refuses such an id before the mapping sees it (the target does the same).
write("rest_request", "path_id_not_utf8", request(
    "PUT", "/user/ab\xffcd", [JSON], '{"id":"x","name":"Ann","email":"a@b.io"}').encode("latin-1"))
write("rest_request", "list", request(
    "GET", "/user?page_size=25&page_token=c3.4f2a-1.1.100.2&since=c3.4f2a%2D1.1.9.1"
    "&include_avatars=true", [("If-None-Match", 'W/"3", "7"')]))
write("rest_request", "list_refused", request(
    "GET", "/user?page_size=99999999999&since=%zz&page_token=%C3&limit=5&a\xff=1"
).encode("latin-1"))

# --- validation: id \n name \n email \n avatar \n mutation_id \n mask \n version -
write("validation", "create", "\n".join([
    ID, "  Ann  ", "ann@example.com", "GIF89a\x01\x00", KEY, "", "0"]))
write("validation", "update_masked", "\n".join([
    ID.upper(), "Zoë \u200d👩‍💻", "josé@xn--exmple-cua.com", "\xff\xd8\xff\xe0", "",
    "name,email,avatar", "12"]))
write("validation", "refused", "\n".join([
    "not-a-uuid", "\u202eevil\u2028", "a..b@@example.123", "RIFF....WEBX", "retry-1",
    "name,bogus,version", "-1"]))
write("validation", "email_unicode", "zoe@exämple。com")

# --- change_cursor: the text a client sends back ------------------------------
write("change_cursor", "current", "c3.4f2a9c1e-1.9223372036854775807.18446744073709551615.2147483647")
write("change_cursor", "small", "c3.db.0.0.0")
write("change_cursor", "first_format", "c1.100.2")
write("change_cursor", "second_format", "c2.4f2a9c1e-1.100.2")
write("change_cursor", "malformed", "c3.db.-1.+2.0")


# --- token: mode byte, then an Authorization value or "<header>\n<claims>" ------
def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(header, claims):
    signing_input = b64url(header.encode()) + "." + b64url(claims.encode())
    mac = hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest()
    return "Bearer " + signing_input + "." + b64url(mac)


HEADER = '{"alg":"HS256","typ":"JWT"}'
CLAIMS = json.dumps({"sub": ID, "iat": NOW, "exp": NOW + 3600})
write("token", "raw_valid", "\x00" + signed(HEADER, CLAIMS))
write("token", "raw_es256", "\x02" + signed(HEADER, CLAIMS))
write("token", "raw_none", "\x00Bearer " + b64url(b'{"alg":"none"}') + "." +
      b64url(CLAIMS.encode()) + ".")
write("token", "raw_scheme", "\x00Basic dXNlcjpwYXNz")
write("token", "claims_admin", "\x01" + HEADER + "\n" + json.dumps(
    {"sub": ID.upper(), "exp": NOW + 60, "nbf": NOW - 60, "admin": True}))
write("token", "claims_expired", "\x01" + HEADER + "\n" + json.dumps(
    {"sub": "admin", "exp": NOW - 3600}))
write("token", "claims_alg", "\x01" + '{"alg":"HS512"}' + "\n" + CLAIMS)


# --- local_store: flags, uint16 snapshot length, snapshot, journal -----------
def varint(n):
    out = b""
    n &= (1 << 64) - 1
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def field(number, value):
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def profile(id_, name, email, version, avatar=b"", sha=""):
    return (field(1, id_) + field(2, name) + field(3, email) +
            (field(4, avatar) if avatar else b"") + (field(5, sha) if sha else b"") +
            field(6, version))


def frame(payload):
    length = struct.pack("<I", len(payload))
    crc = zlib.crc32(payload, zlib.crc32(length))
    return length + struct.pack("<I", crc) + payload


def store_file(schema, kind, generation, next_sequence, records):
    header = field(1, schema) + field(2, kind) + field(3, generation) + field(4, next_sequence)
    return b"PRFS" + frame(header) + b"".join(frame(r) for r in records)


def mutation(mutation_id, profile_id, sequence, state, base=0, creates=False, mask=()):
    fields = profile(profile_id, "Ann", "ann@example.com", 0)
    return (field(1, mutation_id) + field(2, profile_id) + field(3, fields) +
            field(4, b"".join(field(1, p) for p in mask)) + field(5, base) +
            field(6, sequence) + (field(7, 1) if creates else b"") + field(8, state))


def store_input(flags, snapshot, journal):
    return bytes([flags]) + struct.pack("<H", len(snapshot)) + snapshot + journal


SNAPSHOT = store_file(3, 2, 4, 3, [
    field(1, field(1, profile(ID, "Ann", "ann@example.com", 3, b"GIF89a", "ab12"))),
    field(2, mutation(KEY, ID, 1, 1, base=3, mask=["name"])),
    field(2, mutation(OTHER_ID, OTHER_ID, 2, 3, creates=True)),
    field(11, field(1, ID) + field(2, "email")),
    field(8, field(1, "c3.4f2a-1.1.100.2")),
    field(13, field(1, "4f2a-1")),
])
JOURNAL = store_file(3, 1, 4, 0, [
    field(3, field(1, KEY) + field(2, profile(ID, "Ann B", "ann@example.com", 4))),
    field(4, field(1, OTHER_ID) + field(2, "taken") + field(3, field(1, "email") +
                                                            field(2, "in use")) + field(4, 6)),
    field(10, field(1, OTHER_ID)),
    field(2, mutation("0d3a4e5f-8a6b-4c8d-9e0f-1a2b9b2f4c1e", ID, 3, 1, base=4)),
    field(5, field(1, "0d3a4e5f-8a6b-4c8d-9e0f-1a2b9b2f4c1e") +
          field(2, profile(ID, "Bo", "bo@example.com", 6))),
    field(6, field(1, ID) + field(2, 2) + field(3, mutation(KEY, ID, 4, 1, base=6))),
    field(9, field(1, KEY) + field(2, "0d3a4e5f-8a6b-4c8d-9e0f-000000000000") +
          field(3, profile(ID, "Cy", "cy@example.com", 7)) + field(5, "name")),
    field(7, field(1, OTHER_ID)),
    field(12, field(1, ID)),
])
write("local_store", "snapshot_and_journal", store_input(3, SNAPSHOT, JOURNAL))
write("local_store", "journal_torn", store_input(2, b"", JOURNAL[:-5]))
write("local_store", "journal_v1", store_input(
    2, b"", store_file(1, 0, 0, 0, [field(2, mutation(KEY, ID, 1, 1, creates=True))])))
write("local_store", "snapshot_only_fix_crc", store_input(5, SNAPSHOT, b""))
write("local_store", "stale_journal", store_input(3, SNAPSHOT, store_file(3, 1, 2, 0, [])))
