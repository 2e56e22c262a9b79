"""The recognition core: the product's operations as plain async functions over the canonical
request and result, with their collaborators passed in (services.recognition.context). Every
dialect and the bulk task call these; no dialect is known here."""
