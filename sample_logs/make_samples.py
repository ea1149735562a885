"""Writes the sample log of every format from the same 20 requests: the hand-written common_complete.log.

    python sample_logs/make_samples.py

Each sample has the same kinds of lines (page views, static files, downloads, bots, errors, redirects, a 304,
query strings, non-ASCII paths) and one broken line, the 18th after any header, so the tests can check
that every format reads back the same requests. Run it again after changing a renderer; the output is committed.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
LINE = re.compile(
    r"(?P<host>\S+) (?P<ip>\S+) - (?P<user>\S+) \[(?P<date>[^\]]+)\] "
    r'"(?P<method>\S+) (?P<target>\S+) (?P<proto>[^"]+)" (?P<status>\d+) (?P<size>\d+) "(?P<ref>[^"]*)" "(?P<ua>[^"]*)"'
)
BROKEN = "this line was written by a broken logger and matches no format"


def requests() -> list[dict[str, str] | None]:
    out: list[dict[str, str] | None] = []
    for text in (HERE / "common_complete.log").read_text(encoding="utf-8").splitlines():
        m = LINE.match(text)
        out.append(m.groupdict() if m else None)
    return out


def when(r: dict[str, str]) -> datetime:
    return datetime.strptime(r["date"], "%d/%b/%Y:%H:%M:%S %z")


def clf(r: dict[str, str]) -> str:
    return f'[{r["date"]}] "{r["method"]} {r["target"]} {r["proto"]}"'


def millis(i: int) -> int:
    return 3 + (i * 37) % 200


def icecast2(i: int, r: dict[str, str]) -> str:
    return f'{r["ip"]} - {r["user"]} {clf(r)} {r["status"]} {r["size"]} "{r["ref"]}" "{r["ua"]}" {600 + i * 61}'


def nginx_main(i: int, r: dict[str, str]) -> str:
    """nginx's "main" format behind a load balancer (10.0.0.x): most visitors in ``$http_x_forwarded_for``, some
    through a second proxy, one with an address of its own making in front; crawlers connect directly ("-")."""
    if r["ip"].startswith("66.249.") or i % 7 == 0:
        remote, xff = r["ip"], "-"
    elif i % 5 == 0:
        remote, xff = "10.0.0.2", f"1.2.3.4, {r['ip']}"  # a client that sent its own X-Forwarded-For
    elif i % 3 == 0:
        remote, xff = "10.0.0.2", f"{r['ip']}, 10.0.0.1"
    else:
        remote, xff = f"10.0.0.{1 + i % 2}", r["ip"]
    return f'{remote} - {r["user"]} {clf(r)} {r["status"]} {r["size"]} "{r["ref"]}" "{r["ua"]}" "{xff}"'


def s3(i: int, r: dict[str, str]) -> str:
    requester = "-" if r["user"] == "-" else f"arn:aws:iam::123456789012:user/{r['user']}"
    size = r["size"] if r["size"] != "0" else "-"
    key = r["target"].split("?")[0].lstrip("/") or "-"
    return (
        f"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be {r['host']} [{r['date']}] {r['ip']} "
        f'{requester} 3E57427F3EXAMPL{i:02d} REST.{r["method"]}.OBJECT {key} "{r["method"]} {r["target"]} '
        f'{r["proto"]}" {r["status"]} - {size} {r["size"]} {millis(i)} {millis(i) // 2} "{r["ref"]}" "{r["ua"]}"'
    )


def elb(i: int, r: dict[str, str]) -> str:
    stamp = when(r).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{i * 4711 % 1000000:06d}Z"
    return (
        f"https {stamp} app/www-alb/50dc6c495c0c9188 {r['ip']}:{40000 + i} 10.0.1.{i}:80 0.001 "
        f"{millis(i) / 1000:.3f} 0.000 {r['status']} {r['status']} {300 + i} {r['size']} "
        f'"{r["method"]} https://{r["host"]}:443{r["target"]} {r["proto"]}" "{r["ua"]}" '
        "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2"
    )


def ovh(i: int, r: dict[str, str]) -> str:
    return f'{r["ip"]} {r["host"]} {r["user"]} {clf(r)} {r["status"]} {r["size"]} "{r["ref"]}" "{r["ua"]}"'


def haproxy(i: int, r: dict[str, str]) -> str:
    t = when(r).astimezone(timezone.utc)
    return (
        f"{t.strftime('%b %d %H:%M:%S')} lb1 haproxy[6801]: {r['ip']}:{50000 + i} "
        f"[{t.strftime('%d/%b/%Y:%H:%M:%S')}.{i * 37 % 1000:03d}] ft_https~ bk_web/web{i % 3 + 1} "
        f"0/0/1/{millis(i) - 1}/{millis(i)} {r['status']} {r['size']} - - ---- 5/4/0/1/0 0/0 "
        f'"{r["method"]} {r["target"]} {r["proto"]}"'
    )


def gandi(i: int, r: dict[str, str]) -> str:
    return (
        f"{r['host']} {r['ip']} - {r['user']} [{r['date']}] ({millis(i) // 100} s) "
        f'"{r["method"]} {r["target"]} {r["proto"]}" {r["status"]} {r["size"]} "{r["ref"]}" "{r["ua"]}"'
    )


def nginx_json(i: int, r: dict[str, str]) -> str:
    return json.dumps(
        {
            "ip": r["ip"],
            "host": r["host"],
            "userid": r["user"],
            "date": when(r).isoformat(),
            "method": r["method"],
            "path": r["target"],
            "status": r["status"],
            "length": int(r["size"]),
            "referrer": r["ref"],
            "user_agent": r["ua"],
            "generation_time_milli": millis(i) / 1000,
        },
        ensure_ascii=False,
    )


def traefik_json(i: int, r: dict[str, str]) -> str:
    start = when(r).astimezone(timezone.utc)
    return json.dumps(
        {
            "ClientHost": r["ip"],
            "ClientUsername": r["user"],
            "DownstreamContentSize": int(r["size"]),
            "DownstreamStatus": int(r["status"]),
            "Duration": millis(i) * 1_000_000,
            "RequestHost": r["host"],
            "RequestMethod": r["method"],
            "RequestPath": r["target"],
            "RequestProtocol": r["proto"],
            "StartUTC": start.isoformat().replace("+00:00", "Z"),
            "request_Referer": r["ref"] if r["ref"] != "-" else "",
            "request_User-Agent": r["ua"],
            "level": "info",
            "msg": "",
            "time": (start + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=1))).isoformat(),
        },
        ensure_ascii=False,
    )


def caddy_json(i: int, r: dict[str, str]) -> str:
    headers: dict[str, list[str]] = {"User-Agent": [r["ua"]]}
    if r["ref"] != "-":
        headers["Referer"] = [r["ref"]]
    return json.dumps(
        {
            "level": "info",
            "ts": when(r).timestamp(),
            "logger": "http.log.access",
            "msg": "handled request",
            "request": {
                "remote_ip": r["ip"],
                "remote_port": str(40000 + i),
                "client_ip": r["ip"],
                "proto": r["proto"],
                "method": r["method"],
                "host": r["host"],
                "uri": r["target"],
                "headers": headers,
            },
            "user_id": "" if r["user"] == "-" else r["user"],
            "duration": millis(i) / 1000,
            "size": int(r["size"]),
            "status": int(r["status"]),
            "resp_headers": {"Server": ["Caddy"]},
        },
        ensure_ascii=False,
    )


def cloudflare_json(i: int, r: dict[str, str]) -> str:
    """Cloudflare Logpush ``http_requests``, its default fields; ``EdgeStartTimestamp`` in ``unixnano``."""
    start = int(when(r).timestamp()) * 1_000_000_000 + i * 1_000
    return json.dumps(
        {
            "ClientIP": r["ip"],
            "ClientRequestHost": r["host"],
            "ClientRequestMethod": r["method"],
            "ClientRequestURI": r["target"],
            "ClientRequestProtocol": r["proto"],
            "ClientRequestReferer": "" if r["ref"] == "-" else r["ref"],
            "ClientRequestUserAgent": r["ua"],
            "EdgeEndTimestamp": start + millis(i) * 1_000_000,
            "EdgeResponseBytes": int(r["size"]) + 412,
            "EdgeResponseStatus": int(r["status"]),
            "EdgeStartTimestamp": start,
            "RayID": f"85a{i:013x}",
        },
        ensure_ascii=False,
    )


def _url(r: dict[str, str], port: str = "") -> str:
    return f"https://{r['host']}{port}{r['target']}"


def gcp_lb_json(i: int, r: dict[str, str]) -> str:
    """A Google Cloud external Application Load Balancer / Cloud CDN entry, as Cloud Logging exports it."""
    start = when(r).astimezone(timezone.utc)
    request: dict[str, object] = {
        "requestMethod": r["method"],
        "requestUrl": _url(r),
        "requestSize": "312",
        "status": int(r["status"]),
        "responseSize": str(int(r["size"]) + 388),
        "userAgent": r["ua"],
        "remoteIp": f"{r['ip']}:{40000 + i}" if ":" not in r["ip"] else r["ip"],
        "serverIp": "10.128.0.7",
        "latency": f"{millis(i) / 1000:.6f}s",
        "protocol": r["proto"],
    }
    if r["ref"] != "-":
        request["referer"] = r["ref"]
    return json.dumps(
        {
            "insertId": f"1w2x3y{i:04d}",
            "jsonPayload": {
                "@type": "type.googleapis.com/google.cloud.loadbalancing.type.LoadBalancerLogEntry",
                "statusDetails": "response_sent_by_backend",
            },
            "httpRequest": request,
            "resource": {"type": "http_load_balancer", "labels": {"project_id": "example-project"}},
            "timestamp": start.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis(i) * 1000:06d}Z",
            "severity": "INFO",
            "logName": "projects/example-project/logs/requests",
            "receiveTimestamp": (start + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
        ensure_ascii=False,
    )


def azure_frontdoor_json(i: int, r: dict[str, str]) -> str:
    """An Azure Front Door (Standard/Premium) access log record, as diagnostic settings write it."""
    start = when(r).astimezone(timezone.utc)
    return json.dumps(
        {
            "time": start.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis(i) * 10000:07d}Z",
            "resourceId": "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/WEB/PROVIDERS/"
            "MICROSOFT.CDN/PROFILES/EXAMPLE",
            "category": "FrontDoorAccessLog",
            "operationName": "Microsoft.Cdn/Profiles/AccessLog/Write",
            "properties": {
                "trackingReference": f"0Tk4kZQAAAAB{i:04d}",
                "httpMethod": r["method"],
                "httpVersion": "1.1.0.0",
                "requestUri": _url(r, ":443"),
                "hostName": r["host"],
                "requestBytes": "312",
                "responseBytes": str(int(r["size"]) + 388),
                "userAgent": r["ua"],
                "clientIp": r["ip"],
                "clientPort": str(40000 + i),
                "socketIp": r["ip"],
                "timeTaken": f"{millis(i) / 1000:.3f}",
                "requestProtocol": "HTTPS",
                "securityProtocol": "TLS 1.3",
                "httpStatusCode": r["status"],
                "httpStatusDetails": r["status"],
                "pop": "FRA",
                "cacheStatus": "MISS",
                "referer": "" if r["ref"] == "-" else r["ref"],
            },
        },
        ensure_ascii=False,
    )


def azure_appgw_json(i: int, r: dict[str, str]) -> str:
    """An Azure Application Gateway (v2) access log record; its user agent has '+' for spaces."""
    start = when(r).astimezone(timezone.utc)
    path, _, query = r["target"].partition("?")
    return json.dumps(
        {
            "timeStamp": start.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "resourceId": "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/WEB/PROVIDERS/"
            "MICROSOFT.NETWORK/APPLICATIONGATEWAYS/EXAMPLE",
            "operationName": "ApplicationGatewayAccess",
            "category": "ApplicationGatewayAccessLog",
            "properties": {
                "instanceId": "appgw_1",
                "clientIP": r["ip"],
                "clientPort": 40000 + i,
                "httpMethod": r["method"],
                "originalRequestUriWithArgs": r["target"],
                "requestUri": path,
                "requestQuery": query,
                "userAgent": r["ua"].replace(" ", "+"),
                "httpStatus": int(r["status"]),
                "httpVersion": r["proto"],
                "receivedBytes": 312,
                "sentBytes": int(r["size"]) + 388,
                "timeTaken": millis(i) / 1000,
                "sslEnabled": "on",
                "host": r["host"],
                "originalHost": r["host"],
                "referer": "" if r["ref"] == "-" else r["ref"],
            },
        },
        ensure_ascii=False,
    )


def akamai_ds2_json(i: int, r: dict[str, str]) -> str:
    """An Akamai DataStream 2 record in JSON: values are strings, absent ones left out, UA and referer
    URL-encoded."""
    path, _, query = r["target"].partition("?")
    record = {
        "version": "1",
        "cp": "123456",
        "reqId": f"{i:08x}",
        "reqTimeSec": f"{when(r).timestamp():.3f}",
        "bytes": str(int(r["size"]) + 388),
        "cliIP": r["ip"],
        "statusCode": r["status"],
        "proto": "HTTPS",
        "reqHost": r["host"],
        "reqMethod": r["method"],
        "reqPath": path,
        "reqPort": "443",
        "UA": quote(r["ua"], safe=""),
        "turnAroundTimeMSec": str(millis(i)),
        "cacheStatus": "0",
        "country": "DE",
    }
    if query:
        record["queryStr"] = query
    if r["ref"] != "-":
        record["referer"] = quote(r["ref"], safe="")
    return json.dumps(record, ensure_ascii=False)


def bunny(i: int, r: dict[str, str]) -> str:
    """A Bunny CDN log line: cache status|status|time (ms)|bytes|pull zone|IP|referrer|URL|edge|UA|id|country."""
    ms = int(when(r).timestamp()) * 1000 + millis(i)
    ref = r["ref"] if r["ref"] != "-" else "-"
    return "|".join(
        ["HIT" if i % 3 else "MISS", r["status"], str(ms), str(int(r["size"]) + 388), "123456", r["ip"], ref,
         _url(r), "DE", r["ua"], f"{i:032x}", "DE"]
    )  # fmt: skip


GCS_COLUMNS = (
    "time_micros,c_ip,c_ip_type,c_ip_region,cs_method,cs_uri,sc_status,cs_bytes,sc_bytes,time_taken_micros,"
    "cs_host,cs_referer,cs_user_agent,s_request_id,cs_operation,cs_bucket,cs_object"
).split(",")


def gcs_usage(i: int, r: dict[str, str]) -> str:
    """A Google Cloud Storage usage log row (CSV, every value quoted, a quote in a value doubled)."""
    micros = int(when(r).timestamp()) * 1_000_000 + millis(i) * 1000
    values = [
        str(micros), r["ip"], "2" if ":" in r["ip"] else "1", "", r["method"], r["target"], r["status"], "0",
        str(int(r["size"]) + 388), str(millis(i) * 1000), r["host"], "" if r["ref"] == "-" else r["ref"], r["ua"],
        f"ADPycdt{i:020d}", "GET_Object", "example-bucket", r["target"].lstrip("/").partition("?")[0],
    ]  # fmt: skip
    return ",".join('"' + v.replace('"', '""') + '"' for v in values)


def cloudfront_json(i: int, r: dict[str, str]) -> str:
    """A CloudFront standard log (v2) record in JSON: the legacy field names, string values, the user agent
    encoded twice as in the legacy logs."""
    start = when(r).astimezone(timezone.utc)
    path, _, query = r["target"].partition("?")
    return json.dumps(
        {
            "timestamp": str(int(start.timestamp())),
            "DistributionId": "E2EXAMPLE51Z",
            "date": start.strftime("%Y-%m-%d"),
            "time": start.strftime("%H:%M:%S"),
            "x-edge-location": "FRA56-P1",
            "sc-bytes": str(int(r["size"]) + 388),
            "c-ip": r["ip"],
            "cs-method": r["method"],
            "cs(Host)": "d111111abcdef8.cloudfront.net",
            "cs-uri-stem": path,
            "sc-status": r["status"],
            "cs(Referer)": r["ref"],
            "cs(User-Agent)": quote(quote(r["ua"], safe="/;:(),"), safe="/;:(),"),
            "cs-uri-query": query or "-",
            "x-edge-result-type": "Miss",
            "x-host-header": r["host"],
            "cs-protocol": "https",
            "time-taken": f"{millis(i) / 1000:.3f}",
        },
        ensure_ascii=False,
    )


def _utc(r: dict[str, str]) -> tuple[str, str, str, str]:
    """(date, time, path, query) as W3C logs write them: UTC, the query apart ('-' when none)."""
    t = when(r).astimezone(timezone.utc)
    path, _, query = r["target"].partition("?")
    return t.strftime("%Y-%m-%d"), t.strftime("%H:%M:%S"), path, query or "-"


def w3c_extended(i: int, r: dict[str, str]) -> str:
    d, t, path, query = _utc(r)
    return (
        f"{d} {t} {r['ip']} {r['user']} {r['method']} {r['host']} {path} {query} {r['status']} {r['size']} "
        f'{millis(i) / 1000:.3f} "{r["ua"]}" {r["ref"]}'
    )


def iis(i: int, r: dict[str, str]) -> str:
    d, t, path, query = _utc(r)
    return (
        f"{d} {t} 10.0.0.4 {r['method']} {path} {query} 443 {r['user']} {r['ip']} {r['ua'].replace(' ', '+')} "
        f"{r['ref']} {r['host']} {r['status']} 0 0 {r['size']} {millis(i)}"
    )


def amazon_cloudfront(i: int, r: dict[str, str]) -> str:
    d, t, path, query = _utc(r)
    ua = quote(quote(r["ua"], safe="/;:(),"), safe="/;:(),")
    return "\t".join(
        [
            d,
            t,
            "FRA56-P1",
            r["size"],
            r["ip"],
            r["method"],
            "d111111abcdef8.cloudfront.net",
            path,
            r["status"],
            r["ref"],
            ua,
            query,
            "-",
            "Hit" if i % 3 else "Miss",
            f"SOX4xwn4XV6Q4rgb{i:04d}==",
            r["host"],
            "https",
            str(300 + i),
            f"{millis(i) / 1000:.3f}",
        ]
    )


def shoutcast(i: int, r: dict[str, str]) -> str:
    d, t, _, _ = _utc(r)
    return (
        f"{r['ip']} {40000 + i} {r['ip']} {r['status']} {d} {t} {r['target']} {600 + i * 61} 128000 "
        f"{quote(r['ua'], safe='')}"
    )


def incapsula_w3c(i: int, r: dict[str, str]) -> str:
    d, t, path, query = _utc(r)
    values = [
        d,
        t,
        str(12000 + i),
        "Firefox",
        "Browser",
        "true",
        "true",
        r["ip"],
        "-",
        r["host"] + path,
        r["method"],
        query if query != "-" else "",
        r["status"],
        r["size"],
        r["ua"],
        r["ref"],
    ]
    return " ".join(f'"{v}"' for v in values)


W3C_HEADERS = {
    "gcs_usage": [",".join(f'"{c}"' for c in GCS_COLUMNS)],
    "w3c_extended": [
        "#Version: 1.0",
        "#Date: 2024-02-10 21:42:00",
        "#Fields: date time c-ip cs-username cs-method "
        "cs-host cs-uri-stem cs-uri-query sc-status sc-bytes time-taken cs(User-Agent) cs(Referer)",
    ],
    "iis": [
        "#Software: Microsoft Internet Information Services 10.0",
        "#Version: 1.0",
        "#Date: 2024-02-10 21:42:00",
        "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
        "cs(Referer) cs-host sc-status sc-substatus sc-win32-status sc-bytes time-taken",
    ],
    "amazon_cloudfront": [
        "#Version: 1.0",
        "#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) "
        "cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type "
        "x-edge-request-id x-host-header cs-protocol cs-bytes time-taken",
    ],
    "shoutcast": [
        "#Software: SHOUTcast Log Files",
        "#Fields: c-ip c-port c-dns c-status date time cs-uri-stem x-duration avgbandwidth cs(User-Agent)",
    ],
    "incapsula_w3c": [
        "#Fields: date time cs-vid cs-clapp cs-browsertype cs-js-support cs-co-support c-ip s-caller "
        "cs-uri cs-method cs-uri-query sc-status cs-bytes cs(User-Agent) cs(Referer)"
    ],
}

RENDER = {
    "nginx_main": nginx_main,
    "icecast2": icecast2,
    "s3": s3,
    "elb": elb,
    "ovh": ovh,
    "haproxy": haproxy,
    "gandi": gandi,
    "nginx_json": nginx_json,
    "traefik_json": traefik_json,
    "caddy_json": caddy_json,
    "cloudflare_json": cloudflare_json,
    "gcp_lb_json": gcp_lb_json,
    "azure_frontdoor_json": azure_frontdoor_json,
    "azure_appgw_json": azure_appgw_json,
    "akamai_ds2_json": akamai_ds2_json,
    "bunny": bunny,
    "gcs_usage": gcs_usage,
    "cloudfront_json": cloudfront_json,
    "w3c_extended": w3c_extended,
    "iis": iis,
    "amazon_cloudfront": amazon_cloudfront,
    "shoutcast": shoutcast,
    "incapsula_w3c": incapsula_w3c,
}


def main() -> None:
    table = requests()
    for name, render in RENDER.items():
        lines = [
            render(i, r) if r else (BROKEN if not name.endswith("json") else '{"broken": "half a li')
            for i, r in enumerate(table, 1)
        ]
        lines = W3C_HEADERS.get(name, []) + lines
        (HERE / f"{name}.log").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
