"""API pagination with a bounded page size."""

from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """Page-number pagination; clients choose ``page_size`` up to 1,000."""

    page_size_query_param = "page_size"
    max_page_size = 1000
