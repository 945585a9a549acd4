from django.core.management.base import BaseCommand, CommandError

from planning.dataflow import DataflowError, export_pipeline_graph, resolve_pipeline_uri


class Command(BaseCommand):
    help = (
        "Write a pipeline's resolved graph to a .json.gz file that msproc plans from without the task "
        "packages (run where the LSST stack is installed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("pipeline", help="pipeline YAML path/URI, or mock:drp / mock:lsstcam-drp")
        parser.add_argument("output", help="the .json.gz file to write")

    def handle(self, *args, pipeline, output, **options):
        try:
            path = export_pipeline_graph(resolve_pipeline_uri(pipeline), output)
        except DataflowError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"wrote {path}")
