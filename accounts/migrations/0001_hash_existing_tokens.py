"""Move the plain-text DRF tokens into django-rest-knox, which keeps only their SHA-512 digest.

Every existing token keeps working (a client sends the same ``Authorization: Token <key>``); the
plain-text rows are deleted. Not reversible: the keys are gone.
"""

from django.db import migrations


def hash_existing_tokens(apps, schema_editor):
    from knox.crypto import hash_token
    from knox.settings import CONSTANTS

    Token = apps.get_model("authtoken", "Token")
    AuthToken = apps.get_model("knox", "AuthToken")
    for token in Token.objects.all().iterator():
        AuthToken.objects.get_or_create(
            digest=hash_token(token.key),
            defaults={"token_key": token.key[:CONSTANTS.TOKEN_KEY_LENGTH], "user_id": token.user_id,
                      "expiry": None},
        )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [migrations.RunPython(hash_existing_tokens, migrations.RunPython.noop, elidable=False)]
