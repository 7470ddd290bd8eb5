"""Forms of the designer: importing a template file, and the JSON body the save endpoint accepts."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from engine.definition.validation import MAX_BYTES

# A template is at most 1 MiB as JSON; leave room for indentation in a file someone formatted by hand.
MAX_UPLOAD_BYTES = 2 * MAX_BYTES


class TemplateImportForm(forms.Form):
    """Upload a template's JSON file; it becomes the draft of the template its `key` names."""

    file = forms.FileField(label="Template JSON file", help_text="A phasegate/v1 document, as exported.")
    notes = forms.CharField(label="Notes", required=False, max_length=2000)

    def clean_file(self) -> dict[str, Any]:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size} bytes; a template is at most {MAX_BYTES}."
            )
        try:
            document = json.loads(upload.read())
        except (UnicodeDecodeError, ValueError) as exc:
            raise forms.ValidationError(f"The file is not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise forms.ValidationError("A template file holds one JSON object.")
        return document


class DraftSaveInput(forms.Form):
    """The body of a save: `{"document": {...}, "notes": "..."}`."""

    document = forms.JSONField()
    notes = forms.CharField(required=False, max_length=2000)

    @classmethod
    def from_body(cls, body: Any) -> DraftSaveInput:
        # JSONField parses strings; hand it the document back as text so it sees what the client sent.
        data = body if isinstance(body, dict) else {}
        return cls(data={"document": json.dumps(data.get("document")), "notes": data.get("notes") or ""})

    def clean_document(self) -> dict[str, Any]:
        document = self.cleaned_data["document"]
        if not isinstance(document, dict):
            raise forms.ValidationError("a template document is a JSON object")
        return document
