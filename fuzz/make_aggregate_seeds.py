#!/usr/bin/env python3
"""Write the seed corpus of fuzz_aggregate (fuzz/corpus/aggregate/).

Each seed is one byte (the chunk-size selector of the target) followed by a
small aggregate report written for this project.  Deterministic.
"""
import os

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "aggregate")
os.makedirs(out, exist_ok=True)

rec = ("<record><row><source_ip>192.0.2.1</source_ip><count>3</count><policy_evaluated>"
       "<disposition>none</disposition><dkim>pass</dkim><spf>fail</spf><reason><type>forwarded"
       "</type><comment>x</comment></reason></policy_evaluated></row><identifiers><header_from>"
       "example.com</header_from><envelope_from>example.com</envelope_from></identifiers>"
       "<auth_results><dkim><domain>example.com</domain><selector>s1</selector><result>pass"
       "</result></dkim><dkim><domain>other.example</domain><result>fail</result><human_result>"
       "bad sig</human_result></dkim><spf><domain>example.com</domain><scope>mfrom</scope>"
       "<result>softfail</result></spf></auth_results></record>")
meta = ("<report_metadata><org_name>Example Org</org_name><email>r@example.org</email>"
        "<report_id>id-1</report_id><date_range><begin>1700000000</begin><end>1700086399</end>"
        "</date_range></report_metadata>")
pol = ("<policy_published><domain>example.com</domain><adkim>r</adkim><aspf>s</aspf><p>none</p>"
       "<sp>reject</sp><pct>100</pct></policy_published>")
seeds = {
    "plain.xml": '<?xml version="1.0" encoding="UTF-8"?>\n<feedback>' + meta + pol + rec
    + "</feedback>\n",
    "bis.xml": '<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0"><version>1.0</version>'
    + meta.replace("</email>", "</email><generator>gen 1.0</generator>")
    + pol.replace("</p>", "</p><np>reject</np><testing>n</testing>"
                  "<discovery_method>treewalk</discovery_method>")
    + rec.replace("none</disposition>", "pass</disposition>") + "</feedback>",
    "prefixed.xml": '<d:feedback xmlns:d="http://dmarc.org/dmarc-xml/0.1">'
    "<d:report_metadata><d:org_name>p</d:org_name><d:report_id>x</d:report_id><d:date_range>"
    "<d:begin>1</d:begin><d:end>2</d:end></d:date_range></d:report_metadata>"
    "<d:policy_published><d:domain>ex.org</d:domain><d:p>reject</d:p></d:policy_published>"
    "<d:record><d:row><d:source_ip>2001:db8::1</d:source_ip><d:count>1</d:count></d:row>"
    "</d:record></d:feedback>",
    "cp1252.xml": '<?xml version="1.0" encoding="windows-1252"?><feedback>'
    + meta.replace("Example Org", "Ex\u201cample\u201d") + pol + rec + "</feedback>",
    "bom_ws.xml": "\ufeff  \r\n<?xml version='1.0'?>\r\n<feedback>\r\n" + meta + pol + rec
    + "</feedback>",
    "bad_count.xml": "<feedback>" + meta + pol + rec.replace("<count>3</count>", "<count>-5</count>")
    + rec.replace("192.0.2.1", "not-an-ip") + "</feedback>",
    "doctype.xml": '<!DOCTYPE feedback [<!ENTITY x "y">]><feedback>&x;</feedback>',
    "late_meta.xml": "<feedback>" + rec + pol
    + meta.replace("<begin>1700000000</begin>", "<begin>1700000000.5</begin>") + "</feedback>",
    "truncated.xml": "<feedback>" + meta + pol + rec[:200],
    "cdata.xml": "<feedback>" + meta + pol.replace("<p>none</p>", "<p><![CDATA[re]]><!--c-->ject</p>")
    + rec.replace("pass</dkim>", "PASS</dkim>")
    + "<x:ext xmlns:x='urn:other'><x:a>1</x:a></x:ext></feedback>",
}
for i, (name, text) in enumerate(sorted(seeds.items())):
    data = text.encode("cp1252" if name == "cp1252.xml" else "utf-8")
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([i * 7 % 64]) + data)
