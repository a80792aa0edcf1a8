from jaxsbi.cli import main

raise SystemExit(main())
