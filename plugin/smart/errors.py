"""What can go wrong in a SMART launch, each with what the user can do about it."""

from __future__ import annotations


class SmartError(Exception):
    """A launch or FHIR problem a person can act on. `status` is the HTTP status of its page.

    Messages never carry tokens, codes or resource content.
    """

    status = 400
    title = "The review app could not continue"
    action = "Open the review again from the card in your EHR."

    def __init__(self, detail: str = "") -> None:
        self.detail = detail
        super().__init__(detail or self.title)


class UnknownIssuer(SmartError):
    status = 403
    title = "This EHR is not registered with Traction CDS"
    action = (
        "Ask your Traction CDS administrator to add this EHR's FHIR server to "
        "TRACTION_SMART_CLIENTS, then launch again."
    )


class BadLaunchRequest(SmartError):
    status = 400
    title = "The launch request was not valid"


class StateMismatch(SmartError):
    status = 400
    title = "This sign-in response does not belong to your session"
    action = (
        "For your safety the response was refused. Close this window and open the review "
        "again from the card in your EHR."
    )


class DiscoveryFailed(SmartError):
    status = 502
    title = "The EHR's SMART configuration could not be read"
    action = "Try again in a minute; if it persists, tell your EHR administrator."


class PkceUnsupported(SmartError):
    status = 403
    title = "The EHR's authorization server does not support PKCE S256"
    action = "SMART App Launch 2 requires it; ask your EHR administrator to enable it."


class TokenRefused(SmartError):
    status = 403
    title = "The EHR refused to grant access"
    action = "Open the review again from the card in your EHR; if it keeps failing, sign in again."


class SessionExpired(SmartError):
    status = 401
    title = "Your review session has ended"
    action = "Open the review again from the card in your EHR to start a new session."


class FhirUnavailable(SmartError):
    status = 502
    title = "The EHR's FHIR server is not answering"
    action = "Nothing was changed. Try again in a minute; if it persists, tell your EHR team."


class ResourceNotFound(SmartError):
    status = 404
    title = "The Claim was not found"
    action = (
        "It may have been deleted, merged or not shared with this app. Open the review again "
        "from the patient's current claim."
    )


class AccessDenied(SmartError):
    status = 403
    title = "The EHR did not allow this"
    action = "Your sign-in does not cover this record. Open the review again from the EHR."


class VersionConflict(SmartError):
    status = 409
    title = "Someone changed this Claim while you were reviewing it"
    action = (
        "The Claim has been reloaded with the latest version. Review the fixes and apply again."
    )


class UpdateRejected(SmartError):
    status = 422
    title = "The EHR did not accept the corrected Claim"
    action = "Nothing was changed. Download the corrected Claim and give it to your billing team."


class InternalProblem(SmartError):
    status = 500
    title = "Something went wrong in the review app"
    action = "Nothing was changed. Try again; if it keeps failing, tell your EHR team."
