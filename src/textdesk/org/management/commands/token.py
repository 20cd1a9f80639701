from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it once (use it as 'Authorization: Bearer <token>')."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="a label to recognise the token later")

    def handle(self, *args, username, name, **options):
        from textdesk.org.models import ApiToken, User

        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        _obj, token = ApiToken.issue(user, name=name)
        self.stdout.write(token)
