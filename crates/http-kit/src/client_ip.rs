//! The client's address: the TCP peer, or — only when the peer is one of `server.trusted_proxies`
//! — the address the proxies name in the one forwarding header they write
//! (`server.forwarded_header`: `X-Forwarded-For` by default, or RFC 7239 `Forwarded`). The other
//! header is never read: most proxies pass a header they do not write through untouched, so a
//! client could put any address in it.
//!
//! The list is read from the right: each proxy appends the address it received the request from,
//! so the rightmost entry that is not itself a trusted proxy is the first address no proxy of ours
//! vouches for — the client. Entries further left were written by the client and prove nothing
//! (they are not even parsed). An entry that is no address where a trusted proxy should have
//! written one stops the walk at that proxy. Rate limits, sessions and the audit log all use this
//! one answer.

use actix_web::HttpRequest;
use actix_web::http::header;
use ipnet::IpNet;
use std::net::IpAddr;

/// Which forwarding header the trusted proxies write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl ForwardedHeader {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Some(Self::XForwardedFor),
            "forwarded" => Some(Self::Forwarded),
            _ => None,
        }
    }
}

/// The reverse proxies whose forwarding header is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Parses IP addresses and CIDR ranges; an error names the entry's index and the problem.
    pub fn parse(entries: &[String], header: ForwardedHeader) -> Result<Self, (usize, String)> {
        let nets = entries
            .iter()
            .enumerate()
            .map(|(n, e)| {
                let e = e.trim();
                e.parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| (n, format!("{e:?} is not an IP address or CIDR range")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { nets, header })
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, given the request's headers.
    pub fn client(&self, peer: IpAddr, headers: &header::HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => x_forwarded_for(headers),
            ForwardedHeader::Forwarded => forwarded_for(headers),
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(hop) = parse_node(hop) else {
                // Where a trusted proxy should have written an address: stop at that proxy.
                return client;
            };
            client = canonical(hop);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) compare as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The `for=` values of every `Forwarded` header, in order, as written (an element without one
/// counts as an entry that is no address).
fn forwarded_for(headers: &header::HeaderMap) -> Vec<String> {
    let mut hops = Vec::new();
    for value in headers.get_all(header::FORWARDED) {
        let Ok(value) = value.to_str() else {
            hops.push(String::new());
            continue;
        };
        for element in value.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| v.trim().trim_matches('"').to_owned())
            });
            hops.push(node.unwrap_or_default());
        }
    }
    hops
}

/// The entries of every `X-Forwarded-For` header, in order, as written.
fn x_forwarded_for(headers: &header::HeaderMap) -> Vec<String> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        match value.to_str() {
            Ok(v) => hops.extend(v.split(',').map(|p| p.trim().to_owned())),
            Err(_) => hops.push(String::new()),
        }
    }
    hops
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The client's address, as text, for the request (see the module doc). The trusted proxies are
/// registered as app data by the server; without them no proxy is trusted.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    let ip = match req.app_data::<TrustedProxies>() {
        Some(proxies) if !proxies.is_empty() => proxies.client(peer, req.headers()),
        _ => canonical(peer),
    };
    Some(ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn proxies_with(list: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::parse(
            &list.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            header,
        )
        .expect("parse")
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        proxies_with(list, ForwardedHeader::XForwardedFor)
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let p = proxies(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(p.client(ip("203.0.113.5"), &h), ip("203.0.113.5"));
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "192.0.2.10"]);
        // The client forged the first entry; the proxies appended the rest.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 192.0.2.10")]);
        assert_eq!(p.client(ip("10.1.1.1"), &h), ip("198.51.100.7"));
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "198.51.100.8"),
        ]);
        assert_eq!(p.client(ip("10.1.1.1"), &h), ip("198.51.100.8"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let h = headers(&[
            (
                "forwarded",
                "for=1.2.3.4, for=\"[2001:db8::7]:4711\";proto=https",
            ),
            ("x-forwarded-for", "198.51.100.9"),
        ]);
        // The proxy writes X-Forwarded-For: a client's own Forwarded header is not believed.
        assert_eq!(
            proxies(&["10.0.0.1"]).client(ip("10.0.0.1"), &h),
            ip("198.51.100.9")
        );
        let p = proxies_with(&["10.0.0.1"], ForwardedHeader::Forwarded);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("2001:db8::7"));
        let h = headers(&[("forwarded", "for=198.51.100.3:8080;by=10.0.0.1")]);
        assert_eq!(p.client(ip("::ffff:10.0.0.1"), &h), ip("198.51.100.3"));
        // A Forwarded proxy: a client's X-Forwarded-For is not believed either.
        let h = headers(&[("x-forwarded-for", "198.51.100.9")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn junk_left_of_the_client_does_not_matter_and_junk_from_a_proxy_stops_the_walk() {
        let p = proxies(&["10.0.0.1", "10.0.0.2"]);
        // The client wrote "x"; the proxy appended the real address.
        let h = headers(&[("x-forwarded-for", "x, 198.51.100.4")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("198.51.100.4"));
        // Junk where a trusted proxy's entry should be: the last proxy is the answer.
        let h = headers(&[("x-forwarded-for", "198.51.100.4, junk, 10.0.0.2")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.2"));
        let f = proxies_with(&["10.0.0.1"], ForwardedHeader::Forwarded);
        for bad in ["for=_hidden", "for=unknown", "proto=https"] {
            let h = headers(&[("forwarded", bad)]);
            assert_eq!(f.client(ip("10.0.0.1"), &h), ip("10.0.0.1"), "{bad}");
        }
        // Only proxies in the list: the leftmost is the best there is.
        let h = headers(&[("x-forwarded-for", "10.0.0.2")]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.2"));
        // No header: the proxy itself.
        assert_eq!(p.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
    }

    #[test]
    fn parsing_names_the_bad_entry() {
        let x = ForwardedHeader::XForwardedFor;
        assert_eq!(
            TrustedProxies::parse(&["10.0.0.1".into(), "nope".into()], x).map(|_| ()),
            Err((1, "\"nope\" is not an IP address or CIDR range".into()))
        );
        assert!(TrustedProxies::parse(&["::1".into(), "fd00::/8".into()], x).is_ok());
        assert_eq!(
            ForwardedHeader::parse("Forwarded"),
            Some(ForwardedHeader::Forwarded)
        );
        assert_eq!(ForwardedHeader::parse("via"), None);
    }
}
