//! Feedback and cases: column lists and read helpers ([`feedback_reads!`]) shared by both
//! backends.
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

macro_rules! feedback_columns {
    () => {
        "department_id, feedback_id, channel, kind, csat, nps, text, language, category_id, address, latitude, \
         longitude, occurred_at, received_at, resident_key, internal_customer, erased, source"
    };
}
macro_rules! case_columns {
    () => {
        "department_id, case_id, status, assignee, category_id, channel, received_at, acknowledge_due, resolve_due, \
         acknowledged_at, resolved_at, closed_at, owner_department, reopen_count, follow_up, satisfied, \
         resident_key, revision, update_time"
    };
}

/// The columns [`crate::rows::feedback`] reads.
pub const FEEDBACK_COLUMNS: &str = feedback_columns!();
/// The columns [`crate::rows::case`] reads.
pub const CASE_COLUMNS: &str = case_columns!();
/// One feedback record by department and ID.
pub const SELECT_FEEDBACK: &str =
    concat!("SELECT ", feedback_columns!(), " FROM feedback WHERE department_id = $1 AND feedback_id = $2");
/// One case (without its notes and recovery actions) by department and ID.
pub const SELECT_CASE: &str =
    concat!("SELECT ", case_columns!(), " FROM cases WHERE department_id = $1 AND case_id = $2");

/// Read helpers for feedback and cases, expanded in a backend's feedback module; they run on
/// `crate::Conn`, map errors with `crate::db_err`, and use the backend's `attach_entries` (cases'
/// notes and recovery actions in one statement, which is dialect).
#[macro_export]
macro_rules! feedback_reads {
    () => {
        /// Reads a feedback record.
        pub(crate) async fn read_feedback(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            f: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::Feedback> {
            let row = sqlx::query($crate::feedback::SELECT_FEEDBACK)
                .bind(d.as_str())
                .bind(f)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            $crate::rows::feedback(&row.ok_or(cityserve_store::StoreError::NotFound)?)
        }

        /// Reads a case with its notes and recovery actions.
        pub(crate) async fn read_case(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            c: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::Case> {
            let row = sqlx::query($crate::feedback::SELECT_CASE)
                .bind(d.as_str())
                .bind(c)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            let mut cases = [$crate::rows::case(&row.ok_or(cityserve_store::StoreError::NotFound)?)?];
            attach_entries(conn, &mut cases).await?;
            let [case] = cases;
            Ok(case)
        }

        /// Reads a submission: the feedback and, for a complaint, its case.
        async fn read_submitted(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            f: &str,
        ) -> cityserve_store::StoreResult<cityserve_store::feedback::Submitted> {
            let feedback = read_feedback(conn, d, f).await?;
            let case = match &feedback.case_id {
                Some(c) => Some(read_case(conn, d, c.as_str()).await?),
                None => None,
            };
            Ok(cityserve_store::feedback::Submitted { feedback, case })
        }
    };
}
