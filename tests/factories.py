"""factory_boy factories for the engine's models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from engine.definition.canonical import checksum
from engine.models import TemplateVersion, WorkflowTemplate


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw-123456")

    @factory.post_generation
    def roles(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        if create and extracted:
            for role in extracted:
                group, _ = Group.objects.get_or_create(name=role)
                self.groups.add(group)
        if create:
            self.save()


class WorkflowTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkflowTemplate
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"tpl{n}")
    name = factory.LazyAttribute(lambda t: t.key.title())


class TemplateVersionFactory(factory.django.DjangoModelFactory):
    """A draft version; pass `definition=` with a real document."""

    class Meta:
        model = TemplateVersion

    template = factory.SubFactory(WorkflowTemplateFactory)
    number = factory.Sequence(lambda n: n + 1)
    definition = factory.LazyAttribute(
        lambda v: {
            "format": "phasegate/v1",
            "key": v.template.key,
            "name": v.template.name,
            "phases": [{"id": "only", "type": "wait", "duration": "PT1S"}],
        }
    )
    checksum = factory.LazyAttribute(lambda v: checksum(v.definition))
