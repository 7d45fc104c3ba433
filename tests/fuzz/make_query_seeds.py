#!/usr/bin/python3
"""Writes the query seed corpus (corpus/query/): one DNS message per file,
covering the names and features of fuzz_query.c's index. Re-run after
changing it; the files are committed."""
import os
import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "query")
KEYRING = dns.tsigkeyring.from_text({"xfr-key": ("hmac-sha256", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0")})


def q(name, rdtype="A", rdclass="IN", **kw):
    m = dns.message.make_query(name, rdtype, rdclass, **kw)
    m.id = 0x4d4e
    return m


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "a_www": q("www.vendor.example", "A"),
        "soa_apex": q("vendor.example", "SOA"),
        "ns_apex_edns": q("vendor.example", "NS", use_edns=0, payload=1232),
        "mx_do": q("vendor.example", "MX", want_dnssec=True),
        "referral_sub": q("host.sub.vendor.example", "A"),
        "ds_sub": q("sub.vendor.example", "DS"),
        "ds_hosted": q("mailns.vendor.example", "DS", use_edns=0),
        "srv": q("_sip._tcp.vendor.example", "SRV"),
        "cname_loop": q("loop1.vendor.example", "A"),
        "ent": q("y.vendor.example", "TXT"),
        "nx": q("nothere.vendor.example", "AAAA"),
        "refused": q("example.org", "A"),
        "any": q("vendor.example", "ANY"),
        "dkim_ns": q("s1._domainkey.mgeu.example.com", "TXT", use_edns=0, payload=4096),
        "spf_ns": q("mgeu.example.com", "TXT"),
        "dmarc_whole": q("_dmarc.example.net", "TXT"),
        "challenge": q("_mailns-challenge.mgeu.example.com", "TXT"),
        "cname_dkim": q("s2._domainkey.beta.mailns.vendor.example", "TXT"),
        "cname_bounce": q("bounce.beta.mailns.vendor.example", "MX"),
        "hosted_soa": q("mailns.vendor.example", "SOA"),
        "spf_include": q("_spf.mailns.vendor.example", "TXT"),
        "chaos_id": q("id.server", "TXT", "CH"),
        "chaos_version": q("version.bind", "TXT", "CH"),
        "chaos_other": q("foo.bind", "TXT", "CH"),
        "class_any": q("vendor.example", "SOA", "ANY"),
        "edns_v1": q("vendor.example", "SOA", use_edns=1),
        "edns_small": q("s1._domainkey.mgeu.example.com", "TXT", use_edns=0, payload=100),
        "axfr": q("vendor.example", "AXFR"),
        "axfr_tenant": q("mgeu.example.com", "AXFR"),
        "catalog": q("catalog.invalid", "SOA"),
        "axfr_catalog": q("catalog.invalid", "AXFR"),
        "tkey": q("vendor.example", "TKEY"),
        "maila": q("vendor.example", "MAILA"),
        "unknown_type": q("vendor.example", "TYPE65000"),
    }
    ixfr = dns.message.make_query("vendor.example", "IXFR")
    ixfr.id = 0x4d4e
    soa = dns.rrset.from_text("vendor.example.", 0, "IN", "SOA",
                              "ns1.vendor.example. hostmaster.vendor.example. 1 3600 600 86400 60")
    ixfr.authority.append(soa)
    seeds["ixfr"] = ixfr
    notify = q("vendor.example", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    notify.flags |= dns.flags.AA
    seeds["notify"] = notify
    update = q("vendor.example", "SOA")
    update.set_opcode(dns.opcode.UPDATE)
    seeds["update"] = update
    signed = q("www.vendor.example", "A")
    signed.use_tsig(KEYRING, keyname="xfr-key")
    seeds["tsig"] = signed
    badkey = q("www.vendor.example", "A")
    badkey.use_tsig(dns.tsigkeyring.from_text({"other": "c2VjcmV0"}), keyname="other")
    seeds["tsig_badkey"] = badkey
    cookie = q("www.vendor.example", "A", use_edns=0,
               options=[dns.edns.GenericOption(10, b"\x01\x02\x03\x04\x05\x06\x07\x08")])
    seeds["cookie"] = cookie
    ecs = q("www.vendor.example", "A", use_edns=0,
            options=[dns.edns.ECSOption("192.0.2.0", 24)])
    seeds["ecs"] = ecs
    for name, m in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(m.to_wire())
    raw = {
        "short_header": b"\x4d\x4e\x01\x00\x00\x01",
        "qdcount0": struct.pack("!HHHHHH", 0x4d4e, 0, 0, 0, 0, 0),
        "compression_loop": struct.pack("!HHHHHH", 0x4d4e, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",
        "trailing_octet": seeds["a_www"].to_wire() + b"\x00",
    }
    for name, data in raw.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
