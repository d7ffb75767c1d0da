//! Reads `manage.py dumpdata auth.User auth.Group --format json`: a JSON
//! array of `{"model": ..., "pk": ..., "fields": {...}}` objects, which any
//! Django database (MySQL included) can produce.
//!
//! `auth.group` objects name the groups; `auth.user` objects are the rows,
//! their `groups` given as group pks (or, with `--natural-foreign`, as
//! `["name"]`). A file that is not JSON, not an array, or holds objects but
//! no `auth.user` or `auth.group` among them is refused whole; an object
//! that is malformed, of another model, or names a group the file lacks is
//! a skipped row with its reason.

use std::collections::HashMap;
use std::path::Path;

use secrecy::SecretString;
use serde_json::{Map, Value};

use super::{SourceRow, quoted};
use crate::error::{Error, Result};
use crate::service::DjangoUser;

const HOW: &str = "make it with `python manage.py dumpdata auth.User auth.Group --format json`";

/// Reads the dumpdata file at `path` into rows.
///
/// # Errors
/// [`Error::InvalidArgument`] (field `dumpdata`) when the file cannot be
/// read or is not a dumpdata file at all.
pub(super) fn read(path: &Path) -> Result<Vec<SourceRow>> {
    let shown = path.display();
    let text = std::fs::read(path)
        .map_err(|e| Error::invalid("dumpdata", format!("cannot read {shown}: {e}")))?;
    let value: Value = serde_json::from_slice(&text)
        .map_err(|e| Error::invalid("dumpdata", format!("{shown} is not JSON ({e}); {HOW}")))?;
    parse(&value).map_err(|why| Error::invalid("dumpdata", format!("{shown} {why}; {HOW}")))
}

/// The rows of a parsed dumpdata document; `Err` says why it is none.
fn parse(value: &Value) -> std::result::Result<Vec<SourceRow>, String> {
    let Some(objects) = value.as_array() else {
        return Err("is not a dumpdata file (not a JSON array of objects)".to_owned());
    };
    let model = |object: &Value| {
        object
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let known = |m: &Option<String>| matches!(m.as_deref(), Some("auth.user" | "auth.group"));
    if !objects.is_empty() && !objects.iter().map(model).any(|m| known(&m)) {
        let mut found: Vec<String> = objects
            .iter()
            .map(|o| model(o).unwrap_or_else(|| "(no model)".to_owned()))
            .collect();
        found.sort();
        found.dedup();
        found.truncate(5);
        return Err(format!(
            "holds no auth.user or auth.group objects (models found: {})",
            found.join(", ")
        ));
    }
    let groups = group_names(objects);
    let mut rows = Vec::new();
    for (at, object) in objects.iter().enumerate() {
        let place = format!("object {}", at + 1);
        match model(object).as_deref() {
            Some("auth.group") => {}
            Some("auth.user") => rows.push(user(object, &place, &groups)),
            Some(other) => rows.push(SourceRow::Unreadable {
                source: place,
                username: String::new(),
                reason: format!("model {} is not auth.user or auth.group", quoted(other)),
            }),
            None => rows.push(SourceRow::Unreadable {
                source: place,
                username: String::new(),
                reason: "not a dumpdata object (no \"model\")".to_owned(),
            }),
        }
    }
    Ok(rows)
}

/// Group pk (as text) to name, from the file's `auth.group` objects.
fn group_names(objects: &[Value]) -> HashMap<String, String> {
    objects
        .iter()
        .filter(|o| o.get("model").and_then(Value::as_str) == Some("auth.group"))
        .filter_map(|o| {
            let pk = pk_text(o.get("pk")?)?;
            let name = o.get("fields")?.get("name")?.as_str()?;
            Some((pk, name.to_owned()))
        })
        .collect()
}

/// A pk as text: Django's integer pks, or a string one (a UUID).
fn pk_text(pk: &Value) -> Option<String> {
    match pk {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// One `auth.user` object as a row.
fn user(object: &Value, place: &str, groups: &HashMap<String, String>) -> SourceRow {
    let fields = object.get("fields").and_then(Value::as_object);
    let username = fields
        .and_then(|f| f.get("username"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let pk = object.get("pk").and_then(pk_text);
    let source = pk
        .as_ref()
        .map_or_else(|| place.to_owned(), |pk| format!("pk {pk}"));
    let unreadable = |reason: String| SourceRow::Unreadable {
        source: source.clone(),
        username: username.clone(),
        reason,
    };
    let Some(pk) = pk else {
        return unreadable(
            "has no pk (dumped with --natural-primary?): authd keeps Django's primary key as \
             the external id, so dump without --natural-primary"
                .to_owned(),
        );
    };
    let Some(fields) = fields else {
        return unreadable("has no \"fields\" object".to_owned());
    };
    match user_fields(pk, fields, groups) {
        Ok(user) => SourceRow::User(user),
        Err(reason) => unreadable(reason),
    }
}

fn user_fields(
    pk: String,
    fields: &Map<String, Value>,
    groups: &HashMap<String, String>,
) -> std::result::Result<DjangoUser, String> {
    let text = |name: &str| match fields.get(name) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err(format!("{name} is not a string")),
    };
    let flag = |name: &str, default: bool| match fields.get(name) {
        Some(Value::Bool(b)) => Ok(*b),
        None => Ok(default),
        Some(_) => Err(format!("{name} is not true or false")),
    };
    let time = |name: &str| match text(name)? {
        Some(s) => parse_time(&s)
            .map(Some)
            .ok_or_else(|| format!("{name} {} is not a date and time", quoted(&s))),
        None => Ok(None),
    };
    let username = text("username")?
        .filter(|u| !u.is_empty())
        .ok_or_else(|| "has no username".to_owned())?;
    let password = text("password")?.ok_or_else(|| "has no password field".to_owned())?;
    let date_joined = time("date_joined")?.ok_or_else(|| "has no date_joined".to_owned())?;
    let mut names = Vec::new();
    for group in fields
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = match group {
            // `--natural-foreign`: a group is its natural key, `["name"]`.
            Value::Array(key) => key.first().and_then(Value::as_str).map(str::to_owned),
            other => pk_text(other).and_then(|pk| groups.get(&pk).cloned()),
        };
        let Some(name) = name else {
            return Err(format!(
                "group {group} is not among the file's auth.group objects: dump auth.Group \
                 with auth.User"
            ));
        };
        names.push(name);
    }
    Ok(DjangoUser {
        pk,
        username,
        email: text("email")?.unwrap_or_default(),
        password: SecretString::from(password),
        // Django's model defaults, for a field the dump leaves out.
        is_active: flag("is_active", true)?,
        is_superuser: flag("is_superuser", false)?,
        is_staff: flag("is_staff", false)?,
        groups: names,
        date_joined,
        last_login: time("last_login")?,
    })
}

/// A dumpdata timestamp as Unix seconds: RFC 3339 (`2026-12-01T13:31:24.123Z`,
/// what Django writes with USE_TZ = True), or naive ISO 8601 taken as UTC
/// (USE_TZ = False).
fn parse_time(text: &str) -> Option<i64> {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    if let Ok(at) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at.unix_timestamp());
    }
    time::PrimitiveDateTime::parse(text, &Iso8601::DEFAULT)
        .ok()
        .map(|at| at.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    fn rows(json: &str) -> std::result::Result<Vec<SourceRow>, String> {
        parse(&serde_json::from_str(json).unwrap())
    }

    fn reason(row: &SourceRow) -> &str {
        match row {
            SourceRow::Unreadable { reason, .. } => reason,
            SourceRow::User(user) => panic!("read {user:?}"),
        }
    }

    #[test]
    fn django_timestamps_are_read_with_or_without_an_offset() {
        assert_eq!(parse_time("2026-12-01T13:31:24.123Z"), Some(1_796_131_884));
        assert_eq!(parse_time("2026-12-01T14:31:24+01:00"), Some(1_796_131_884));
        assert_eq!(
            parse_time("2026-12-01T13:31:24.123456"),
            Some(1_796_131_884)
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn users_take_their_groups_by_pk_or_natural_key() {
        let rows = rows(
            r#"[{"model": "auth.group", "pk": 4, "fields": {"name": "Editors"}},
                {"model": "auth.user", "pk": 1, "fields": {"username": "alice",
                 "password": "!x", "email": "", "is_staff": true,
                 "date_joined": "2026-12-01T13:31:24Z", "last_login": null,
                 "groups": [4, ["Writers"]]}}]"#,
        )
        .unwrap();
        let [SourceRow::User(alice)] = &rows[..] else {
            panic!("{rows:?}")
        };
        assert_eq!(alice.pk, "1");
        assert_eq!(alice.groups, ["Editors", "Writers"]);
        assert!(alice.is_active && alice.is_staff && !alice.is_superuser);
        assert_eq!(alice.password.expose_secret(), "!x");
        assert_eq!(alice.last_login, None);
    }

    #[test]
    fn malformed_objects_are_rows_with_reasons() {
        let rows = rows(
            r#"[{"model": "auth.user", "pk": 1, "fields": {"password": "x",
                  "date_joined": "2026-12-01T13:31:24Z"}},
                {"model": "auth.user", "pk": 2, "fields": {"username": "b", "password": "x",
                  "date_joined": "2026-12-01T13:31:24Z", "groups": [9]}},
                {"model": "auth.user", "fields": {"username": "c"}},
                {"model": "auth.user", "pk": 3, "fields": {"username": "d", "password": "x",
                  "date_joined": "soon"}},
                {"model": "auth.user", "pk": 4, "fields": {"username": "e", "password": "x",
                  "date_joined": "2026-12-01T13:31:24Z", "is_active": "yes"}},
                {"model": "auth.permission", "pk": 1, "fields": {}}]"#,
        )
        .unwrap();
        assert_eq!(rows.len(), 6);
        assert!(reason(&rows[0]).contains("no username"));
        assert!(reason(&rows[1]).contains("group 9"));
        assert!(reason(&rows[2]).contains("natural-primary"));
        assert!(reason(&rows[3]).contains("not a date"));
        assert!(reason(&rows[4]).contains("is_active"));
        assert!(reason(&rows[5]).contains("auth.permission"));
    }

    #[test]
    fn a_file_of_other_things_is_refused_whole() {
        assert!(
            rows(r#"{"model": "auth.user"}"#)
                .unwrap_err()
                .contains("array")
        );
        let err =
            rows(r#"[{"model": "contenttypes.contenttype", "pk": 1, "fields": {}}]"#).unwrap_err();
        assert!(err.contains("contenttypes.contenttype"), "{err}");
        assert!(rows("[]").unwrap().is_empty(), "a project without users");
    }
}
