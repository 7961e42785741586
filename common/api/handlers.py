"""Django's error views as problem details; a root urls.py imports these four names."""

handler400 = "common.api.problems.bad_request"
handler403 = "common.api.problems.permission_denied"
handler404 = "common.api.problems.page_not_found"
handler500 = "common.api.problems.server_error"
