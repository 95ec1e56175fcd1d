//! Domain <-> protobuf conversions.
use crate::names;
use chrono::{DateTime, Utc};
use cityserve_domain::{
    AttributeAnswer, AttributeChoice, AttributeDatatype, Channel, Clock, Department, DepartmentStatus,
    ServiceAttribute, ServiceCategory, ServiceCategoryStatus, ServiceStandard, ServiceTargets, ValidationError,
    etag_for,
};
use cityserve_proto::v1 as pb;

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

fn duration(d: std::time::Duration) -> prost_types::Duration {
    prost_types::Duration { seconds: d.as_secs() as i64, nanos: 0 }
}

/// Whole seconds of a required duration field.
pub fn seconds(field: &str, d: Option<&prost_types::Duration>) -> Result<i64, ValidationError> {
    let d = d.ok_or_else(|| ValidationError::one(field, "is required"))?;
    if d.nanos != 0 {
        return Err(ValidationError::one(field, "must be whole seconds"));
    }
    Ok(d.seconds)
}

pub fn targets_to_pb(t: &ServiceTargets) -> pb::ServiceTargets {
    pb::ServiceTargets {
        acknowledge_within: Some(duration(t.acknowledge_within)),
        resolve_within: Some(duration(t.resolve_within)),
        clock: clock_to_pb(t.clock) as i32,
    }
}

pub fn clock_to_pb(c: Clock) -> pb::Clock {
    match c {
        Clock::Calendar => pb::Clock::Calendar,
        Clock::Business => pb::Clock::Business,
    }
}

/// The clock a `ServiceTargets.clock` names; `None` for UNSPECIFIED (keep, or calendar on create).
pub fn clock_from_pb(field: &str, v: i32) -> Result<Option<Clock>, ValidationError> {
    match pb::Clock::try_from(v) {
        Ok(pb::Clock::Unspecified) => Ok(None),
        Ok(pb::Clock::Calendar) => Ok(Some(Clock::Calendar)),
        Ok(pb::Clock::Business) => Ok(Some(Clock::Business)),
        Err(_) => Err(ValidationError::one(field, "is not a known Clock")),
    }
}

/// Validates targets; `field` is the path of the `ServiceTargets` message.
pub fn targets_from_pb(field: &str, t: Option<&pb::ServiceTargets>) -> Result<ServiceTargets, ValidationError> {
    let t = t.ok_or_else(|| ValidationError::one(field, "is required"))?;
    let mut errors = ValidationError::default();
    let ack = errors.check(seconds("acknowledge_within", t.acknowledge_within.as_ref()));
    let res = errors.check(seconds("resolve_within", t.resolve_within.as_ref()));
    let clock = errors.check(clock_from_pb("clock", t.clock)).flatten().unwrap_or(Clock::Calendar);
    match (ack, res) {
        (Some(a), Some(r)) if errors.violations.is_empty() => {
            ServiceTargets::new(a, r).map(|t| t.on(clock)).map_err(|e| e.within(field))
        }
        _ => Err(errors.within(field)),
    }
}

pub fn department_status_to_pb(s: DepartmentStatus) -> pb::DepartmentStatus {
    match s {
        DepartmentStatus::Active => pb::DepartmentStatus::Active,
        DepartmentStatus::Archived => pb::DepartmentStatus::Archived,
    }
}

/// `None` for UNSPECIFIED (no filter); unknown numbers are rejected.
pub fn department_status_filter(field: &str, v: i32) -> Result<Option<DepartmentStatus>, ValidationError> {
    match pb::DepartmentStatus::try_from(v) {
        Ok(pb::DepartmentStatus::Unspecified) => Ok(None),
        Ok(pb::DepartmentStatus::Active) => Ok(Some(DepartmentStatus::Active)),
        Ok(pb::DepartmentStatus::Archived) => Ok(Some(DepartmentStatus::Archived)),
        Err(_) => Err(ValidationError::one(field, "is not a known DepartmentStatus")),
    }
}

pub fn category_status_filter(field: &str, v: i32) -> Result<Option<ServiceCategoryStatus>, ValidationError> {
    match pb::ServiceCategoryStatus::try_from(v) {
        Ok(pb::ServiceCategoryStatus::Unspecified) => Ok(None),
        Ok(pb::ServiceCategoryStatus::Active) => Ok(Some(ServiceCategoryStatus::Active)),
        Ok(pb::ServiceCategoryStatus::Retired) => Ok(Some(ServiceCategoryStatus::Retired)),
        Err(_) => Err(ValidationError::one(field, "is not a known ServiceCategoryStatus")),
    }
}

/// `None` for UNSPECIFIED (any channel); unknown numbers are rejected.
pub fn channel_from_pb(field: &str, v: i32) -> Result<Option<Channel>, ValidationError> {
    use pb::Channel as P;
    let c = match P::try_from(v).map_err(|_| ValidationError::one(field, "is not a known Channel"))? {
        P::Unspecified => return Ok(None),
        P::Survey => Channel::Survey,
        P::Intercept => Channel::Intercept,
        P::Phone => Channel::Phone,
        P::CommentCard => Channel::CommentCard,
        P::Web => Channel::Web,
        P::Email => Channel::Email,
        P::Social => Channel::Social,
        P::InPerson => Channel::InPerson,
        P::Channel311 => Channel::ThreeOneOne,
    };
    Ok(Some(c))
}

pub fn channel_to_pb(c: Option<Channel>) -> pb::Channel {
    use pb::Channel as P;
    match c {
        None => P::Unspecified,
        Some(Channel::Survey) => P::Survey,
        Some(Channel::Intercept) => P::Intercept,
        Some(Channel::Phone) => P::Phone,
        Some(Channel::CommentCard) => P::CommentCard,
        Some(Channel::Web) => P::Web,
        Some(Channel::Email) => P::Email,
        Some(Channel::Social) => P::Social,
        Some(Channel::InPerson) => P::InPerson,
        Some(Channel::ThreeOneOne) => P::Channel311,
    }
}

pub fn department_to_pb(d: &Department) -> pb::Department {
    pb::Department {
        name: names::department_name(&d.id),
        display_name: d.display_name.clone(),
        description: d.description.clone(),
        status: department_status_to_pb(d.status) as i32,
        default_targets: Some(targets_to_pb(&d.default_targets)),
        create_time: Some(timestamp(d.create_time)),
        update_time: Some(timestamp(d.update_time)),
        etag: etag_for(d.revision),
    }
}

pub fn category_to_pb(c: &ServiceCategory) -> pb::ServiceCategory {
    pb::ServiceCategory {
        name: names::category_name(&c.department_id, &c.id),
        display_name: c.display_name.clone(),
        description: c.description.clone(),
        keywords: c.keywords.clone(),
        status: match c.status {
            ServiceCategoryStatus::Active => pb::ServiceCategoryStatus::Active,
            ServiceCategoryStatus::Retired => pb::ServiceCategoryStatus::Retired,
        } as i32,
        create_time: Some(timestamp(c.create_time)),
        update_time: Some(timestamp(c.update_time)),
        etag: etag_for(c.revision),
        attributes: c.attributes.iter().map(attribute_to_pb).collect(),
        public: c.public,
    }
}

/// Each attribute datatype with its protobuf value: the one table both directions read.
const DATATYPES: [(AttributeDatatype, pb::AttributeDatatype); 6] = [
    (AttributeDatatype::String, pb::AttributeDatatype::String),
    (AttributeDatatype::Number, pb::AttributeDatatype::Number),
    (AttributeDatatype::Datetime, pb::AttributeDatatype::Datetime),
    (AttributeDatatype::Text, pb::AttributeDatatype::Text),
    (AttributeDatatype::Singlevaluelist, pb::AttributeDatatype::SingleValueList),
    (AttributeDatatype::Multivaluelist, pb::AttributeDatatype::MultiValueList),
];

fn datatype_to_pb(t: AttributeDatatype) -> pb::AttributeDatatype {
    DATATYPES.iter().find(|(d, _)| *d == t).map_or(pb::AttributeDatatype::Unspecified, |(_, p)| *p)
}

fn datatype_from_pb(v: i32) -> Option<AttributeDatatype> {
    DATATYPES.iter().find(|(_, p)| *p as i32 == v).map(|(d, _)| *d)
}

fn attribute_to_pb(a: &ServiceAttribute) -> pb::ServiceAttribute {
    pb::ServiceAttribute {
        code: a.code.clone(),
        datatype: datatype_to_pb(a.datatype) as i32,
        required: a.required,
        variable: a.variable,
        description: a.description.clone(),
        datatype_description: a.datatype_description.clone(),
        order: a.order,
        values: a.values.iter().map(|v| pb::AttributeChoice { key: v.key.clone(), name: v.name.clone() }).collect(),
    }
}

/// A category's attributes from the request (`field` names the list), checked by
/// [`cityserve_domain::attributes::check_definitions`] and sorted as forms show them.
pub fn attributes_from_pb(
    field: &str,
    list: &[pb::ServiceAttribute],
) -> Result<Vec<ServiceAttribute>, ValidationError> {
    let mut errors = ValidationError::default();
    let mut defs = Vec::with_capacity(list.len());
    for (i, a) in list.iter().enumerate() {
        let datatype = datatype_from_pb(a.datatype).unwrap_or_else(|| {
            // Named here; the rest of the attribute is still checked below, as a string.
            errors.push(format!("{field}[{i}].datatype"), "is required: one of the AttributeDatatype values");
            AttributeDatatype::String
        });
        defs.push(ServiceAttribute {
            code: a.code.clone(),
            datatype,
            required: a.required,
            variable: a.variable,
            description: a.description.clone(),
            datatype_description: a.datatype_description.clone(),
            order: a.order,
            values: a.values.iter().map(|v| AttributeChoice { key: v.key.clone(), name: v.name.clone() }).collect(),
        });
    }
    let checked = errors.check(cityserve_domain::attributes::check_definitions(field, &defs));
    errors.into_result()?;
    checked.ok_or_else(|| ValidationError::one(field, "is invalid"))
}

/// A submission's answers, in their stored form ([`cityserve_domain::attributes::normalize_answers`]).
pub fn answers_from_pb(field: &str, list: &[pb::AttributeAnswer]) -> Result<Vec<AttributeAnswer>, ValidationError> {
    let answers: Vec<AttributeAnswer> =
        list.iter().map(|a| AttributeAnswer { code: a.code.clone(), values: a.values.clone() }).collect();
    cityserve_domain::attributes::normalize_answers(field, &answers)
}

pub fn answers_to_pb(list: &[AttributeAnswer]) -> Vec<pb::AttributeAnswer> {
    list.iter().map(|a| pb::AttributeAnswer { code: a.code.clone(), values: a.values.clone() }).collect()
}

pub fn standard_to_pb(s: &ServiceStandard) -> pb::ServiceStandard {
    pb::ServiceStandard {
        name: names::standard_name(&s.department_id, &s.id),
        service_category_id: s.category.as_ref().map(|c| c.to_string()).unwrap_or_default(),
        channel: channel_to_pb(s.channel) as i32,
        targets: Some(targets_to_pb(&s.targets)),
        create_time: Some(timestamp(s.create_time)),
        update_time: Some(timestamp(s.update_time)),
        etag: etag_for(s.revision),
    }
}
