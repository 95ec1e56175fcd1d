//! Resource names (`departments/{d}/serviceCategories/{c}`) in and out.
use cityserve_domain::{
    AppointmentId, CompetencyId, DepartmentId, OfficerId, ServiceCategoryId, ServiceStandardId, ValidationError,
};

const DEPARTMENTS: &str = "departments";
const CATEGORIES: &str = "serviceCategories";
const STANDARDS: &str = "serviceStandards";

fn segments<'a>(field: &str, name: &'a str, shape: &str, expect: usize) -> Result<Vec<&'a str>, ValidationError> {
    let parts: Vec<&str> = name.split('/').collect();
    if name.is_empty() {
        return Err(ValidationError::one(field, format!("is required ({shape})")));
    }
    if parts.len() != expect {
        return Err(ValidationError::one(field, format!("must have the form {shape}")));
    }
    Ok(parts)
}

/// Parses `departments/{department}`.
pub fn department(field: &str, name: &str) -> Result<DepartmentId, ValidationError> {
    let shape = "departments/{department}";
    let p = segments(field, name, shape, 2)?;
    if p[0] != DEPARTMENTS {
        return Err(ValidationError::one(field, format!("must have the form {shape}")));
    }
    DepartmentId::parse(field, p[1])
}

/// Parses `calendar` (the city's calendar).
pub fn city_calendar(field: &str, name: &str) -> Result<(), ValidationError> {
    if name != "calendar" {
        return Err(ValidationError::one(field, "must be `calendar`"));
    }
    Ok(())
}

/// Parses `departments/{department}/calendar`.
pub fn department_calendar(field: &str, name: &str) -> Result<DepartmentId, ValidationError> {
    let shape = "departments/{department}/calendar";
    let p = segments(field, name, shape, 3)?;
    if p[0] != DEPARTMENTS || p[2] != "calendar" {
        return Err(ValidationError::one(field, format!("must have the form {shape}")));
    }
    DepartmentId::parse(field, p[1])
}

/// Parses `departments/{department}/{collection}/{id}`.
fn child<'a>(field: &str, name: &'a str, collection: &str) -> Result<(DepartmentId, &'a str), ValidationError> {
    let shape = format!("departments/{{department}}/{collection}/{{id}}");
    let p = segments(field, name, &shape, 4)?;
    if p[0] != DEPARTMENTS || p[2] != collection {
        return Err(ValidationError::one(field, format!("must have the form {shape}")));
    }
    Ok((DepartmentId::parse(field, p[1])?, p[3]))
}

/// Parses `departments/{department}/serviceCategories/{service_category}`.
pub fn category(field: &str, name: &str) -> Result<(DepartmentId, ServiceCategoryId), ValidationError> {
    let (d, id) = child(field, name, CATEGORIES)?;
    Ok((d, ServiceCategoryId::parse(field, id)?))
}

/// Parses `departments/{department}/serviceStandards/{service_standard}`.
pub fn standard(field: &str, name: &str) -> Result<(DepartmentId, ServiceStandardId), ValidationError> {
    let (d, id) = child(field, name, STANDARDS)?;
    Ok((d, ServiceStandardId::parse(field, id)?))
}

/// Parses `departments/{department}` or `departments/-` (every department in scope: `None`).
pub fn department_or_all(field: &str, name: &str) -> Result<Option<DepartmentId>, ValidationError> {
    if name == "departments/-" {
        return Ok(None);
    }
    department(field, name).map(Some)
}

/// Parses `departments/{department}/officers/{officer}`.
pub fn officer(field: &str, name: &str) -> Result<(DepartmentId, OfficerId), ValidationError> {
    let (d, id) = child(field, name, "officers")?;
    Ok((d, OfficerId::parse(field, id)?))
}

/// Parses `departments/{department}/touchpoints/{touchpoint}`.
pub fn touchpoint(field: &str, name: &str) -> Result<(DepartmentId, cityserve_domain::TouchpointId), ValidationError> {
    let (d, id) = child(field, name, "touchpoints")?;
    Ok((d, cityserve_domain::TouchpointId::parse(field, id)?))
}

/// Parses `departments/{department}/panels/{panel}`.
pub fn panel(field: &str, name: &str) -> Result<(DepartmentId, cityserve_domain::panel::PanelId), ValidationError> {
    let (d, id) = child(field, name, "panels")?;
    Ok((d, cityserve_domain::panel::PanelId::parse(field, id)?))
}

/// Parses `departments/{department}/panels/{panel}/{collection}/{id}`: the department, the
/// panel and the child's ID (still to be parsed).
pub fn panel_child<'a>(
    field: &str,
    name: &'a str,
    collection: &str,
) -> Result<(DepartmentId, cityserve_domain::panel::PanelId, &'a str), ValidationError> {
    let shape = format!("departments/{{department}}/panels/{{panel}}/{collection}/{{id}}");
    let p = segments(field, name, &shape, 6)?;
    if p[0] != DEPARTMENTS || p[2] != "panels" || p[4] != collection {
        return Err(ValidationError::one(field, format!("must have the form {shape}")));
    }
    Ok((DepartmentId::parse(field, p[1])?, cityserve_domain::panel::PanelId::parse(field, p[3])?, p[5]))
}

/// Parses `departments/{department}/appointments/{appointment}`.
pub fn appointment(field: &str, name: &str) -> Result<(DepartmentId, AppointmentId), ValidationError> {
    let (d, id) = child(field, name, "appointments")?;
    Ok((d, AppointmentId::parse(field, id)?))
}

/// Parses `departments/{department}/competencies/{competency}`.
pub fn competency(field: &str, name: &str) -> Result<(DepartmentId, CompetencyId), ValidationError> {
    let (d, id) = child(field, name, "competencies")?;
    Ok((d, CompetencyId::parse(field, id)?))
}

/// Parses `departments/{department}/plans/{year}`.
pub fn plan(field: &str, name: &str) -> Result<(DepartmentId, i32), ValidationError> {
    let (d, year) = child(field, name, "plans")?;
    let year: i32 = year.parse().map_err(|_| ValidationError::one(field, "must end with a year, e.g. plans/2026"))?;
    Ok((d, cityserve_domain::officer::plan_year(field, year)?))
}

// Formatting lives in `cityserve_store::resource`, so audit records and events carry exactly the
// names the API hands out.
pub use cityserve_store::resource::{
    appointment as appointment_name, category as category_name, competency as competency_name,
    department as department_name, officer as officer_name, plan as plan_name, plan_revision as plan_revision_name,
    recognition as recognition_name, standard as standard_name, training_record as training_record_name,
};

/// Parses `departments/{department}/feedback/{feedback}`.
pub fn feedback(field: &str, name: &str) -> Result<(DepartmentId, cityserve_domain::FeedbackId), ValidationError> {
    let (d, id) = child(field, name, "feedback")?;
    Ok((d, cityserve_domain::FeedbackId::parse(field, id)?))
}

/// Parses `departments/{department}/cases/{case}`.
pub fn case(field: &str, name: &str) -> Result<(DepartmentId, cityserve_domain::CaseId), ValidationError> {
    let (d, id) = child(field, name, "cases")?;
    Ok((d, cityserve_domain::CaseId::parse(field, id)?))
}

/// Parses `residents/{resident_key}`.
pub fn resident(field: &str, name: &str) -> Result<String, ValidationError> {
    let key = name
        .strip_prefix("residents/")
        .ok_or_else(|| ValidationError::one(field, "must have the form residents/{resident_key}"))?;
    cityserve_domain::feedback::resident_key(field, key)
}

/// Parses `departments/{department}/handoffs/{handoff}`.
pub fn handoff(field: &str, name: &str) -> Result<(DepartmentId, cityserve_domain::HandoffId), ValidationError> {
    let (d, id) = child(field, name, "handoffs")?;
    Ok((d, cityserve_domain::HandoffId::parse(field, id)?))
}

/// Parses `departments/{department}/escalations/{escalation}`.
pub fn escalation(field: &str, name: &str) -> Result<(DepartmentId, cityserve_domain::EscalationId), ValidationError> {
    let (d, id) = child(field, name, "escalations")?;
    Ok((d, cityserve_domain::EscalationId::parse(field, id)?))
}

/// Parses `departments/{department}/initiatives/{initiative}`.
pub fn initiative(field: &str, name: &str) -> Result<(DepartmentId, cityserve_domain::InitiativeId), ValidationError> {
    let (d, id) = child(field, name, "initiatives")?;
    Ok((d, cityserve_domain::InitiativeId::parse(field, id)?))
}

/// Parses `dumbRules/{dumb_rule}`.
pub fn dumb_rule(field: &str, name: &str) -> Result<cityserve_domain::DumbRuleId, ValidationError> {
    let shape = "dumbRules/{dumb_rule}";
    let p = segments(field, name, shape, 2)?;
    if p[0] != "dumbRules" {
        return Err(ValidationError::one(field, format!("must have the form {shape}")));
    }
    cityserve_domain::DumbRuleId::parse(field, p[1])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_and_rejects_malformed_names() {
        let d = department("name", "departments/streets").unwrap();
        assert_eq!(department_name(&d), "departments/streets");
        let (d, c) = category("name", "departments/streets/serviceCategories/pothole").unwrap();
        assert_eq!(category_name(&d, &c), "departments/streets/serviceCategories/pothole");
        let (d, s) = standard("name", "departments/streets/serviceStandards/fast").unwrap();
        assert_eq!(standard_name(&d, &s), "departments/streets/serviceStandards/fast");
        for bad in ["", "streets", "departments/", "departments/Streets", "dept/streets", "departments/streets/x"] {
            assert_eq!(department("name", bad).unwrap_err().violations[0].field, "name", "{bad}");
        }
        assert!(category("parent", "departments/streets/serviceStandards/pothole").is_err());
    }
}
