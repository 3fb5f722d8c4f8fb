//! [`Packed`]: the compact binary form in which [`MemoryStore`](super::MemoryStore) keeps a
//! record — one allocation of a few hundred bytes instead of a `ClientRecord` with fifty-three
//! inline members and a dozen heap strings.
//!
//! Layout: a header the store reads without decoding (the `client_id`, by which the store finds
//! the record, then the version, the registration token hash, the instance hash, the
//! `software_id`), then the lifecycle members the reaper needs, then the rest of the record. Metadata members are written as `tag, value` pairs, only when present. Nothing
//! here is a wire format: it lives only in the memory of one process, so it may change with any
//! release.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::hash::{Hash, Hasher};

use serde_json::Value;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use super::{
    ClientRecord, FederationProvenance, Origin, PreviousToken, SecretValue, StoredSecret,
    StoredToken,
};
use crate::initial_tokens::InitialAccessGrant;
use crate::metadata::{
    with_members, with_text_types, ApplicationType, AuthMethod, ClientMetadata, Coded, GrantType,
    JoseAlgorithm, RedirectUri, ResponseType, Scope, SubjectType,
};
use crate::secret::{ClientSecret, SecretHash};

const HAS_TOKEN: u8 = 1;
const HAS_INSTANCE: u8 = 2;
const HAS_SOFTWARE_ID: u8 = 4;
/// Ends the metadata members.
const END: u8 = 0xFF;

/// One record, packed. Its `Debug` shows only its size: it may hold a retrievable secret. It is
/// hashed, compared and borrowed as the bytes of its `client_id`, so a set of them is a map by
/// `client_id` (looked up with `client_id.as_bytes()`) whose key lives in the same allocation as
/// the record.
pub(super) struct Packed(Box<[u8]>);

impl Borrow<[u8]> for Packed {
    fn borrow(&self) -> &[u8] {
        self.id_bytes()
    }
}

impl Hash for Packed {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id_bytes().hash(state);
    }
}

impl PartialEq for Packed {
    fn eq(&self, other: &Self) -> bool {
        self.id_bytes() == other.id_bytes()
    }
}

impl Eq for Packed {}

impl fmt::Debug for Packed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Packed({} bytes)", self.0.len())
    }
}

impl Packed {
    /// Packs `record` at `version`.
    pub(super) fn new(record: &ClientRecord, version: u64) -> Self {
        let mut w = Vec::with_capacity(384);
        put_str(&mut w, &record.client_id);
        w.extend_from_slice(&version.to_le_bytes());
        let token = record.registration_token.as_ref();
        let software_id = record.metadata.software_id.as_deref();
        let flags = flag(token.is_some(), HAS_TOKEN)
            | flag(record.instance.is_some(), HAS_INSTANCE)
            | flag(software_id.is_some(), HAS_SOFTWARE_ID);
        w.push(flags);
        if let Some(token) = token {
            w.extend_from_slice(token.hash.as_bytes());
        }
        if let Some(instance) = &record.instance {
            w.extend_from_slice(instance.as_bytes());
        }
        if let Some(id) = software_id {
            put_str(&mut w, id);
        }
        put_lifecycle(record, &mut w);
        record.software_statement.put(&mut w);
        record.statement_issuer.put(&mut w);
        put_len(&mut w, record.statement_asserted.len());
        for member in &record.statement_asserted {
            member.put(&mut w);
        }
        record.initial_token_subject.put(&mut w);
        record.initial_grant.put(&mut w);
        put_metadata(&record.metadata, &mut w);
        Self(w.into_boxed_slice())
    }

    /// The bytes of the client identifier (empty only for bytes that are not a packed record).
    pub(super) fn id_bytes(&self) -> &[u8] {
        let mut r = Reader(&self.0);
        r.len().and_then(|n| r.bytes(n)).unwrap_or_default()
    }

    /// The stored version (`None` is never stored: see [`unpack`](Self::unpack)).
    pub(super) fn version(&self) -> Option<u64> {
        self.header().map(|h| h.version)
    }

    /// The hash of the current registration access token, if any.
    pub(super) fn token_hash(&self) -> Option<[u8; 32]> {
        self.header()?.token
    }

    /// The instance hash of an idempotent registration, if any.
    pub(super) fn instance_hash(&self) -> Option<[u8; 32]> {
        self.header()?.instance
    }

    /// The metadata's `software_id`, if any.
    pub(super) fn software_id(&self) -> Option<&str> {
        self.header()?.software_id
    }

    /// The record with only what [`ClientRecord::is_reapable`] reads filled in.
    pub(super) fn lifecycle(&self) -> Option<Box<ClientRecord>> {
        let header = self.header()?;
        let mut r = header.rest;
        take_lifecycle(&header, &mut r)
    }

    /// The whole record, boxed: it is filled in place and then moves as a pointer (a record is
    /// nearly two kilobytes). `None` only if the bytes are not a packed record, which a store
    /// that packs them itself never sees.
    pub(super) fn unpack(&self) -> Option<Box<ClientRecord>> {
        let header = self.header()?;
        let mut r = header.rest;
        let mut record = take_lifecycle(&header, &mut r)?;
        record.software_statement = Field::take(&mut r)?;
        record.statement_issuer = Field::take(&mut r)?;
        let asserted = r.len()?;
        record.statement_asserted = (0..asserted)
            .map(|_| String::take(&mut r))
            .collect::<Option<BTreeSet<_>>>()?;
        record.initial_token_subject = Field::take(&mut r)?;
        record.initial_grant = Field::take(&mut r)?;
        take_metadata(&mut r, &mut record.metadata)?;
        r.is_empty().then_some(record)
    }

    /// The header, and a reader at the lifecycle members. `None` only for bytes that are not a
    /// packed record.
    fn header(&self) -> Option<Header<'_>> {
        let mut r = Reader(&self.0);
        // Only a decoded record needs the identifier as text: the header just steps over it.
        let id_len = r.len()?;
        let client_id = r.bytes(id_len)?;
        let version = u64::from_le_bytes(r.bytes(8)?.try_into().ok()?);
        let flags = r.byte()?;
        let token = (flags & HAS_TOKEN != 0).then(|| r.hash()).flatten();
        let instance = (flags & HAS_INSTANCE != 0).then(|| r.hash()).flatten();
        let software_id = (flags & HAS_SOFTWARE_ID != 0).then(|| r.str()).flatten();
        let complete = token.is_some() == (flags & HAS_TOKEN != 0)
            && instance.is_some() == (flags & HAS_INSTANCE != 0)
            && software_id.is_some() == (flags & HAS_SOFTWARE_ID != 0);
        complete.then_some(Header {
            client_id,
            version,
            token,
            instance,
            software_id,
            rest: r,
        })
    }
}

struct Header<'a> {
    client_id: &'a [u8],
    version: u64,
    token: Option<[u8; 32]>,
    instance: Option<[u8; 32]>,
    software_id: Option<&'a str>,
    rest: Reader<'a>,
}

fn flag(set: bool, bit: u8) -> u8 {
    if set {
        bit
    } else {
        0
    }
}

fn put_lifecycle(record: &ClientRecord, w: &mut Vec<u8>) {
    w.push(match record.origin {
        Origin::Dynamic => 0,
        Origin::Administrator => 1,
    });
    record.created_at.put(w);
    record.updated_at.put(w);
    record.last_used.put(w);
    record.secret.put(w);
    record.previous_secret.put(w);
    if let Some(token) = &record.registration_token {
        token.expires_at.put(w);
    }
    record.previous_token.put(w);
    put_len(w, record.retired_tokens.len());
    for hash in &record.retired_tokens {
        w.extend_from_slice(hash.as_bytes());
    }
    record.federation.put(w);
}

fn take_lifecycle(header: &Header<'_>, r: &mut Reader<'_>) -> Option<Box<ClientRecord>> {
    let origin = match r.byte()? {
        0 => Origin::Dynamic,
        1 => Origin::Administrator,
        _ => return None,
    };
    let created_at = OffsetDateTime::take(r)?;
    let mut record = Box::new(ClientRecord::new(
        std::str::from_utf8(header.client_id).ok()?,
        ClientMetadata::default(),
        origin,
        created_at,
    ));
    record.version = header.version;
    record.instance = header.instance.map(SecretHash::from_bytes);
    record.updated_at = Field::take(r)?;
    record.last_used = Field::take(r)?;
    record.secret = Field::take(r)?;
    record.previous_secret = Field::take(r)?;
    if let Some(hash) = header.token {
        record.registration_token = Some(StoredToken {
            hash: SecretHash::from_bytes(hash),
            expires_at: Field::take(r)?,
        });
    }
    record.previous_token = Field::take(r)?;
    let retired = r.len()?;
    record.retired_tokens = (0..retired)
        .map(|_| r.hash().map(SecretHash::from_bytes))
        .collect::<Option<_>>()?;
    record.federation = Field::take(r)?;
    Some(record)
}

macro_rules! metadata_codec {
    (; $($field:ident),+ $(,)?) => {
        /// Present members as `tag, value`, then [`END`], then the other members.
        #[allow(unused_assignments)]
        fn put_metadata(metadata: &ClientMetadata, w: &mut Vec<u8>) {
            // Exhaustive, so that a new member cannot be forgotten here.
            let ClientMetadata { $($field,)+ other } = metadata;
            let mut tag: u8 = 0;
            $(
                if let Some(value) = $field {
                    w.push(tag);
                    value.put(w);
                }
                tag += 1;
            )+
            w.push(END);
            other.put(w);
        }

        /// Fills the members of a default `metadata` in place.
        #[allow(unused_assignments)]
        fn take_metadata(r: &mut Reader<'_>, metadata: &mut ClientMetadata) -> Option<()> {
            'members: loop {
                let tag = r.byte()?;
                if tag == END {
                    break;
                }
                let mut expected: u8 = 0;
                $(
                    if tag == expected {
                        metadata.$field = Some(Field::take(r)?);
                        continue 'members;
                    }
                    expected += 1;
                )+
                return None;
            }
            metadata.other = Field::take(r)?;
            Some(())
        }
    };
}

with_members!(metadata_codec!());

/// A value with a packed form.
trait Field: Sized {
    fn put(&self, w: &mut Vec<u8>);
    fn take(r: &mut Reader<'_>) -> Option<Self>;
}

impl Field for String {
    fn put(&self, w: &mut Vec<u8>) {
        put_str(w, self);
    }

    fn take(r: &mut Reader<'_>) -> Option<Self> {
        r.str().map(str::to_owned)
    }
}

impl Field for bool {
    fn put(&self, w: &mut Vec<u8>) {
        w.push(u8::from(*self));
    }

    fn take(r: &mut Reader<'_>) -> Option<Self> {
        match r.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

impl Field for u64 {
    fn put(&self, w: &mut Vec<u8>) {
        put_varint(w, *self);
    }

    fn take(r: &mut Reader<'_>) -> Option<Self> {
        r.varint()
    }
}

impl<T: Field> Field for Option<T> {
    fn put(&self, w: &mut Vec<u8>) {
        match self {
            None => w.push(0),
            Some(value) => {
                w.push(1);
                value.put(w);
            }
        }
    }

    fn take(r: &mut Reader<'_>) -> Option<Self> {
        match r.byte()? {
            0 => Some(None),
            1 => T::take(r).map(Some),
            _ => None,
        }
    }
}

impl<T: Field> Field for Vec<T> {
    fn put(&self, w: &mut Vec<u8>) {
        put_len(w, self.len());
        for item in self {
            item.put(w);
        }
    }

    fn take(r: &mut Reader<'_>) -> Option<Self> {
        let n = r.len()?;
        // Each item takes at least one byte: a corrupt length cannot reserve more than that.
        let mut items = Vec::with_capacity(n.min(r.0.len()));
        for _ in 0..n {
            items.push(T::take(r)?);
        }
        Some(items)
    }
}

/// JSON values (`jwks`, extensions) as JSON text: rare, and serde_json round-trips them exactly.
impl Field for Value {
    fn put(&self, w: &mut Vec<u8>) {
        put_str(w, &serde_json::to_string(self).unwrap_or_default());
    }

    fn take(r: &mut Reader<'_>) -> Option<Self> {
        serde_json::from_str(r.str()?).ok()
    }
}

impl Field for BTreeMap<String, Value> {
    fn put(&self, w: &mut Vec<u8>) {
        put_len(w, self.len());
        for (key, value) in self {
            key.put(w);
            value.put(w);
        }
    }

    fn take(r: &mut Reader<'_>) -> Option<Self> {
        (0..r.len()?)
            .map(|_| Some((String::take(r)?, <Value as Field>::take(r)?)))
            .collect()
    }
}

/// Members kept as their wire string, except that a known value of an open enum is its one-byte
/// code (a code byte of 0 is followed by the string); the open enums allocate only for a value
/// they do not know.
macro_rules! text_fields {
    ($($ty:ty => $make:path),+ $(,)?) => {
        $(
            impl Field for $ty {
                fn put(&self, w: &mut Vec<u8>) {
                    if <$ty as Coded>::CODED {
                        let code = self.code();
                        w.push(code);
                        if code != 0 {
                            return;
                        }
                    }
                    put_str(w, self.as_str());
                }

                fn take(r: &mut Reader<'_>) -> Option<Self> {
                    if <$ty as Coded>::CODED {
                        match r.byte()? {
                            0 => {}
                            code => return <$ty as Coded>::from_code(code),
                        }
                    }
                    r.str().map($make)
                }
            }
        )+
    };
}

with_text_types!(text_fields!());

/// A time as its calendar parts and offset: rebuilding from parts only validates them, where a
/// Unix timestamp would need a calendar computation on every read.
impl Field for OffsetDateTime {
    fn put(&self, w: &mut Vec<u8>) {
        put_signed(w, i64::from(self.year()));
        put_varint(w, u64::from(self.ordinal()));
        let (hour, minute, second, nano) = self.to_hms_nano();
        w.extend_from_slice(&[hour, minute, second]);
        put_varint(w, u64::from(nano));
        put_signed(w, i64::from(self.offset().whole_seconds()));
    }

    fn take(r: &mut Reader<'_>) -> Option<Self> {
        let year = i32::try_from(r.signed()?).ok()?;
        let ordinal = u16::try_from(r.varint()?).ok()?;
        let date = Date::from_ordinal_date(year, ordinal).ok()?;
        let [hour, minute, second]: [u8; 3] = r.bytes(3)?.try_into().ok()?;
        let nano = u32::try_from(r.varint()?).ok()?;
        let time = Time::from_hms_nano(hour, minute, second, nano).ok()?;
        let offset = i32::try_from(r.signed()?).ok()?;
        let offset = UtcOffset::from_whole_seconds(offset).ok()?;
        Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
    }
}

impl Field for StoredSecret {
    fn put(&self, w: &mut Vec<u8>) {
        match &self.value {
            SecretValue::Hashed(hash) => {
                w.push(0);
                w.extend_from_slice(hash.as_bytes());
            }
            SecretValue::Retrievable(secret) => {
                w.push(1);
                put_str(w, secret.secret());
            }
        }
        self.expires_at.put(w);
    }

    fn take(r: &mut Reader<'_>) -> Option<Self> {
        let value = match r.byte()? {
            0 => SecretValue::Hashed(SecretHash::from_bytes(r.hash()?)),
            1 => SecretValue::Retrievable(ClientSecret::new(String::take(r)?)),
            _ => return None,
        };
        Some(Self {
            value,
            expires_at: Field::take(r)?,
        })
    }
}

/// The grant a client registered with: its restrictions bind the client's updates.
impl Field for FederationProvenance {
    fn put(&self, w: &mut Vec<u8>) {
        // Exhaustive, so that a new member cannot be forgotten here.
        let FederationProvenance {
            trust_anchor,
            immediate_superior,
            expires_at,
            trust_chain,
        } = self;
        trust_anchor.put(w);
        immediate_superior.put(w);
        expires_at.put(w);
        trust_chain.put(w);
    }

    fn take(r: &mut Reader<'_>) -> Option<Self> {
        Some(Self {
            trust_anchor: Field::take(r)?,
            immediate_superior: Field::take(r)?,
            expires_at: Field::take(r)?,
            trust_chain: Field::take(r)?,
        })
    }
}

impl Field for InitialAccessGrant {
    fn put(&self, w: &mut Vec<u8>) {
        // Exhaustive, so that a new member cannot be forgotten here.
        let InitialAccessGrant {
            scopes,
            expires_at,
            subject,
            single_use,
            allowed_scopes,
            redirect_hosts,
        } = self;
        scopes.put(w);
        expires_at.put(w);
        subject.put(w);
        single_use.put(w);
        allowed_scopes.put(w);
        redirect_hosts.put(w);
    }

    fn take(r: &mut Reader<'_>) -> Option<Self> {
        Some(Self {
            scopes: Field::take(r)?,
            expires_at: Field::take(r)?,
            subject: Field::take(r)?,
            single_use: Field::take(r)?,
            allowed_scopes: Field::take(r)?,
            redirect_hosts: Field::take(r)?,
        })
    }
}

impl Field for PreviousToken {
    fn put(&self, w: &mut Vec<u8>) {
        w.extend_from_slice(self.hash.as_bytes());
        self.rotated_at.put(w);
        self.grace_used.put(w);
    }

    fn take(r: &mut Reader<'_>) -> Option<Self> {
        Some(Self {
            hash: SecretHash::from_bytes(r.hash()?),
            rotated_at: Field::take(r)?,
            grace_used: Field::take(r)?,
        })
    }
}

fn put_varint(w: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        // Seven bits a byte, the high bit saying more follow.
        w.push((n & 0x7F) as u8 | 0x80);
        n >>= 7;
    }
    w.push(n as u8);
}

fn put_len(w: &mut Vec<u8>, n: usize) {
    put_varint(w, n as u64);
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    put_len(w, s.len());
    w.extend_from_slice(s.as_bytes());
}

fn put_signed(w: &mut Vec<u8>, n: i64) {
    // Zigzag: small magnitudes of either sign stay short.
    put_varint(w, ((n << 1) ^ (n >> 63)) as u64);
}

/// Reads packed values; every read is bounds-checked and answers `None` past the end.
#[derive(Clone, Copy)]
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn hash(&mut self) -> Option<[u8; 32]> {
        self.bytes(32)?.try_into().ok()
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            n |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.varint()?).ok()
    }

    fn signed(&mut self) -> Option<i64> {
        let n = self.varint()?;
        Some((n >> 1) as i64 ^ -((n & 1) as i64))
    }

    fn str(&mut self) -> Option<&'a str> {
        let n = self.len()?;
        std::str::from_utf8(self.bytes(n)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `nanos` after the epoch, seen from `offset` seconds east of UTC.
    fn at(nanos: i128, offset: i32) -> OffsetDateTime {
        let utc = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
        utc.to_offset(UtcOffset::from_whole_seconds(offset).unwrap())
    }

    fn full_record() -> ClientRecord {
        let all: Value = serde_json::json!({
            "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_jwt",
            "grant_types": ["authorization_code", "urn:example:custom"], "response_types": ["code"],
            "client_name": "A", "client_uri": "https://a.example", "logo_uri": "https://a.example/l.png",
            "scope": "openid", "contacts": ["ops@a.example"], "tos_uri": "https://a.example/tos",
            "policy_uri": "https://a.example/p", "jwks": {"keys": [{"kty": "EC", "x": 1.5}]},
            "software_id": "s", "software_version": "1", "application_type": "native",
            "subject_type": "pairwise", "id_token_signed_response_alg": "ES256",
            "default_max_age": 3600, "require_auth_time": true, "default_acr_values": ["1"],
            "post_logout_redirect_uris": ["https://a.example/out"], "dpop_bound_access_tokens": false,
            "authorization_details_types": ["payment"], "client_name#fr": "Ä",
            "x_extension": {"nested": [1, null, "ü"]}
        });
        let metadata: ClientMetadata = serde_json::from_value(all).unwrap();
        let now = at(1_767_315_845_123_456_789, 7200);
        let mut record = ClientRecord::new("client-1", metadata, Origin::Administrator, now);
        record.secret = Some(StoredSecret {
            value: SecretValue::Retrievable(ClientSecret::new("raw")),
            expires_at: Some(at(1_798_761_600_000_000_000, 0)),
        });
        record.previous_secret = Some(StoredSecret {
            value: SecretValue::Hashed(SecretHash::of("old")),
            expires_at: None,
        });
        record.registration_token = Some(StoredToken {
            hash: SecretHash::of("token"),
            expires_at: Some(at(-500_000_000, 0)),
        });
        record.previous_token = Some(PreviousToken {
            hash: SecretHash::of("before"),
            rotated_at: now,
            grace_used: true,
        });
        record.retired_tokens = vec![SecretHash::of("forked"), SecretHash::of("used")];
        record.software_statement = Some("a.b.c".into());
        record.statement_issuer = Some("https://issuer.example".into());
        record.statement_asserted = ["client_name".to_owned(), "scope".to_owned()].into();
        record.instance = Some(SecretHash::of("instance"));
        record.initial_token_subject = Some("admin".into());
        record.initial_grant = Some(
            InitialAccessGrant::with_scopes(["register", "ü"])
                .expires_at(at(1_798_761_600_000_000_000, 3600))
                .subject("admin")
                .single_use()
                .allowed_scopes(["openid", ""])
                .redirect_hosts(["app.example", ".corp.example"]),
        );
        record.federation = Some(FederationProvenance {
            trust_anchor: "https://ta.example".into(),
            immediate_superior: "https://int.example".into(),
            expires_at: at(1_798_761_600_000_000_000, 60),
            trust_chain: vec!["a.b.c".into(), "d.e.f".into()],
        });
        record.last_used = Some(now);
        record.version = 7;
        record
    }

    /// Every known value of an open enum has its own code and comes back from it; any other
    /// value has none and is kept as its string.
    #[test]
    fn known_values_pack_as_codes_and_others_as_strings() {
        fn check<T: Coded + Field + PartialEq + std::fmt::Debug>(other: T) -> usize {
            let known: Vec<(u8, T)> = (1..=u8::MAX)
                .filter_map(|code| T::from_code(code).map(|value| (code, value)))
                .collect();
            for (code, value) in &known {
                assert_eq!(value.code(), *code, "{value:?}");
                let mut w = Vec::new();
                value.put(&mut w);
                assert_eq!(w, [*code], "{value:?} packs as its code alone");
                assert_eq!(T::take(&mut Reader(&w)).as_ref(), Some(value));
            }
            assert_eq!(other.code(), 0);
            let mut w = Vec::new();
            other.put(&mut w);
            assert_eq!(w.first(), Some(&0));
            assert_eq!(T::take(&mut Reader(&w)), Some(other));
            known.len()
        }
        assert!(check(GrantType::from("urn:example:grant")) >= 7);
        assert!(check(AuthMethod::from("urn:example:auth")) >= 7);
        assert_eq!(check(ApplicationType::from("desktop")), 2);
        assert!(check(SubjectType::from("sectored")) >= 2);
        // A known value read from the wire is the variant, with the variant's code.
        assert_ne!(GrantType::RefreshToken.code(), 0);
        assert_eq!(
            GrantType::from("refresh_token").code(),
            GrantType::RefreshToken.code()
        );
    }

    #[test]
    fn a_record_round_trips_exactly() {
        let record = full_record();
        let packed = Packed::new(&record, 7);
        let back = packed.unpack().unwrap();
        assert_eq!(*back, record);
        let by_id: &[u8] = packed.borrow();
        assert_eq!(by_id, b"client-1");
        assert_eq!(back.created_at.offset(), record.created_at.offset());
        assert_eq!(packed.version(), Some(7));
        assert_eq!(
            packed.token_hash(),
            Some(*SecretHash::of("token").as_bytes())
        );
        assert_eq!(
            packed.instance_hash(),
            Some(*SecretHash::of("instance").as_bytes())
        );
        assert_eq!(packed.software_id(), Some("s"));
    }

    #[test]
    fn an_empty_record_round_trips() {
        let record = ClientRecord::new(
            "c",
            ClientMetadata::default(),
            Origin::Dynamic,
            OffsetDateTime::UNIX_EPOCH,
        );
        let packed = Packed::new(&record, 0);
        assert_eq!(*packed.unpack().unwrap(), record);
        assert_eq!(packed.token_hash(), None);
        assert_eq!(packed.software_id(), None);
    }

    #[test]
    fn the_lifecycle_prefix_decides_like_the_record() {
        let record = full_record();
        let lifecycle = Packed::new(&record, 7).lifecycle().unwrap();
        for now in [
            at(1_767_225_600_000_000_000, 0),
            at(1_830_297_600_000_000_000, 0),
        ] {
            assert_eq!(
                lifecycle.is_reapable(Some(now), now),
                record.is_reapable(Some(now), now)
            );
        }
    }

    #[test]
    fn truncated_bytes_never_panic_and_never_decode() {
        let packed = Packed::new(&full_record(), 7);
        for cut in 0..packed.0.len() {
            let truncated = Packed(packed.0[..cut].into());
            // The header may still read; the whole record never does.
            assert!(truncated.unpack().is_none(), "cut at {cut}");
        }
    }
}
