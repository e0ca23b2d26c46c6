; Definitions ---------------------------------------------------------------

(class_definition
  name: (identifier) @name
  body: (block . (expression_statement (string) @doc)?)) @definition.class

(function_definition
  name: (identifier) @name
  body: (block . (expression_statement (string) @doc)?)) @definition.function

; module-level constants and variables
(module
  (expression_statement
    (assignment left: (identifier) @name) @definition.variable))

; class attributes
(class_definition
  body: (block
    (expression_statement
      (assignment left: (identifier) @name) @definition.field)))

; Exported API: the names listed in __all__ (rendered without quotes by the extractor)
(module
  (expression_statement
    (assignment
      left: (identifier) @_all
      right: [(list (string) @export.name) (tuple (string) @export.name)])
    (#eq? @_all "__all__")))

(module
  (expression_statement
    (augmented_assignment
      left: (identifier) @_all
      right: [(list (string) @export.name) (tuple (string) @export.name)])
    (#eq? @_all "__all__")))

; References ----------------------------------------------------------------

(call
  function: (identifier) @name) @reference.call

(call
  function: (attribute
    object: (_) @receiver
    attribute: (identifier) @name)) @reference.call

(decorator (identifier) @name) @reference.call

(decorator
  (attribute object: (_) @receiver attribute: (identifier) @name)) @reference.call

(class_definition
  superclasses: (argument_list (identifier) @name) @reference.class)

(class_definition
  superclasses: (argument_list
    (attribute object: (_) @receiver attribute: (identifier) @name) @reference.class))

; Imports -------------------------------------------------------------------
; import a.b            -> source a.b
; import a.b as c       -> source a.b, alias c
; from .m import n as a -> source .m, name n, alias a
; from m import *       -> source m, wildcard

(import_statement name: (dotted_name) @import.source) @import

(import_statement
  name: (aliased_import name: (dotted_name) @import.source alias: (identifier) @import.alias)) @import

(import_from_statement
  module_name: (_) @import.source
  name: (dotted_name) @import.name) @import

(import_from_statement
  module_name: (_) @import.source
  name: (aliased_import name: (dotted_name) @import.name alias: (identifier) @import.alias)) @import

(import_from_statement
  module_name: (_) @import.source
  (wildcard_import) @import.wildcard) @import
