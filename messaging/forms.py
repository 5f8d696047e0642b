from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import MessageChannel, MessageKind


class TemplateForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of message"), choices=MessageKind.choices)
    channel = forms.ChoiceField(label=_("Channel"), choices=MessageChannel.choices)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    subject = forms.CharField(label=_("Subject (e-mail)"), max_length=200, required=False)
    body = forms.CharField(
        label=_("Text"), widget=forms.Textarea(attrs={"rows": 4}), max_length=1000
    )
    provider_template = forms.CharField(
        label=_("Provider template code"),
        max_length=64,
        required=False,
        help_text=_("Alibaba Cloud SMS_… code or WeChat template id, as approved."),
    )
    customer = forms.IntegerField(
        label=_("Preview with customer"), help_text=_("A real customer of this site.")
    )
